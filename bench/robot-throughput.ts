import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { WorkerBrowser, type WorkerBrowserOptions } from '../runtime/browser';
import { ENV } from '../core/env-names';
import { startFreightPortal, type FreightPortal } from '../sandbox/freight-portal';
import { fetchPods } from './plain-fetch';
import { ProcessTreeMemory } from './process-tree-memory';
import { BrowserPerJob, WorkerHarness, type PortalTarget } from './worker-harness';

/**
 * Items per minute of freight-pod-download on the sandbox freight portal, three ways, in one
 * process against one portal: the Roboport worker (one Chromium for the process, a context per
 * job), the same worker code launching a Chromium per job (Robot-Framework-style seeds), and
 * plain HTTP fetches of the same PDFs. Modes take turns round by round, so machine noise hits
 * all of them alike; the ratios are the result. See bench/README.md.
 */

const USAGE = `Usage: npm run bench:throughput -- [options]
  --invoices N      invoices per job (default 5)
  --jobs N          jobs per mode and round (default 4)
  --rounds N        rounds; each runs every mode once, in rotating order (default 6)
  --concurrency N   jobs at once, as WORKER_CONCURRENCY (default 2)
  --latency-ms N    portal latency per request (default 20)
Env: CHROMIUM_PATH to use another Chromium than @sparticuz/chromium's.`;

interface BenchOptions {
  invoicesPerJob: number;
  jobs: number;
  rounds: number;
  concurrency: number;
  latencyMs: number;
}

interface Mode {
  name: string;
  runJob(invoices: readonly string[]): Promise<void>;
  /** Untimed, before each measured run. */
  prepare?(): Promise<void>;
  /** Untimed, after each measured run. */
  finish?(): Promise<void>;
}

interface Measurement {
  mode: string;
  round: number;
  items: number;
  ms: number;
  peakMiB: number | undefined;
}

const CREDENTIALS = { username: 'bench-robot', password: 'Bench-Portal-Passw0rd' };
const WARM_UP_INVOICES = ['599000001'];

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const portal = await startFreightPortal({ ...CREDENTIALS, faults: { latencyMs: options.latencyMs } });
  const target: PortalTarget = { url: portal.url, ...CREDENTIALS };
  // The robot validates portalUrl against the allowlist it reads when its module loads.
  process.env[ENV.egressAllowHosts] = new URL(portal.url).host;
  const { robotCatalog } = await import('../robots');

  const executablePath = process.env[ENV.chromiumPath]?.trim();
  const browserOptions: WorkerBrowserOptions = executablePath ? { executablePath } : {};
  const workerBrowser = new WorkerBrowser(browserOptions);
  const worker = new WorkerHarness({ portal: target, robots: robotCatalog, sessions: workerBrowser, concurrency: options.concurrency });
  const perJob = new WorkerHarness({ portal: target, robots: robotCatalog, sessions: new BrowserPerJob(browserOptions), concurrency: options.concurrency });
  let launchMs = 0;
  const modes: Mode[] = [
    {
      name: 'worker',
      runJob: (invoices) => worker.runJob(invoices),
      // A worker launches its browser once per process and then serves jobs for hours: it is up
      // before the clock starts. Closed after each run so that the other modes' memory is their own.
      prepare: async () => {
        const started = performance.now();
        await (await workerBrowser.open({ allowHosts: [], onRefused: () => {} })).close();
        launchMs = performance.now() - started;
      },
      finish: () => workerBrowser.close(),
    },
    { name: 'browser-per-job', runJob: (invoices) => perJob.runJob(invoices) },
    { name: 'plain-fetch', runJob: (invoices) => fetchPods(target, invoices) },
  ];

  try {
    printHeader(options);
    // Untimed: unpacks Chromium, warms the JIT and the portal, for every mode alike.
    for (const mode of modes) await measure(mode, 0, [WARM_UP_INVOICES], portal, 1, undefined);
    const memory = new ProcessTreeMemory();
    const measurements: Measurement[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (let turn = 0; turn < modes.length; turn++) {
        const mode = modes[(round - 1 + turn) % modes.length]!;
        measurements.push(await measure(mode, round, jobInvoices(options), portal, options.concurrency, memory));
      }
    }
    printResults(measurements, modes, launchMs);
  } finally {
    await workerBrowser.close();
    await portal.close();
  }
}

/** One timed run of `jobs` in a mode, checked against the portal's own download counts. */
async function measure(mode: Mode, round: number, jobs: string[][], portal: FreightPortal, concurrency: number, memory: ProcessTreeMemory | undefined): Promise<Measurement> {
  portal.reset();
  await mode.prepare?.();
  memory?.start();
  const started = performance.now();
  await inPool(
    jobs.map((invoices) => () => mode.runJob(invoices)),
    concurrency,
  );
  const ms = performance.now() - started;
  const peakMiB = await memory?.stop();
  await mode.finish?.();
  const items = jobs.flat();
  const stats = portal.stats();
  const repeated = items.filter((invoice) => stats.downloads[invoice] !== 1);
  if (stats.totalDownloads !== items.length || repeated.length > 0) {
    throw new Error(`${mode.name}, round ${round}: the portal served ${stats.totalDownloads} PDFs for ${items.length} invoices (not once each: ${repeated.slice(0, 5).join(', ')})`);
  }
  return { mode: mode.name, round, items: items.length, ms, peakMiB };
}

/** Runs the tasks, at most `concurrency` at a time, like the worker's job slots. */
async function inPool(tasks: Array<() => Promise<void>>, concurrency: number): Promise<void> {
  let next = 0;
  let failed = false;
  const runner = async () => {
    while (!failed && next < tasks.length) {
      const task = tasks[next++]!;
      await task().catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, runner));
}

/** Distinct invoice numbers per job, all known to the portal (9 digits, not starting with 404). */
function jobInvoices({ jobs, invoicesPerJob }: BenchOptions): string[][] {
  return Array.from({ length: jobs }, (_, job) => Array.from({ length: invoicesPerJob }, (_, item) => String(600_000_000 + job * 10_000 + item)));
}

function parseOptions(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      invoices: { type: 'string', default: '5' },
      jobs: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '6' },
      concurrency: { type: 'string', default: '2' },
      'latency-ms': { type: 'string', default: '20' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    invoicesPerJob: positiveInt('invoices', values.invoices, 9_999),
    jobs: positiveInt('jobs', values.jobs, 9_999),
    rounds: positiveInt('rounds', values.rounds, 100),
    concurrency: positiveInt('concurrency', values.concurrency, 32),
    latencyMs: positiveInt('latency-ms', values['latency-ms'], 60_000, 0),
  };
}

function positiveInt(flag: string, text: string, max: number, min = 1): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`--${flag} must be an integer from ${min} to ${max}, got "${text}"\n\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

function printHeader(options: BenchOptions): void {
  console.log('robot-throughput: freight-pod-download on the sandbox freight portal');
  console.log(
    `  ${options.rounds} rounds x ${options.jobs} jobs x ${options.invoicesPerJob} invoices per mode, ${options.concurrency} jobs at once, ` +
      `portal latency ${options.latencyMs} ms/request, Node ${process.version}, ${availableParallelism()} CPUs`,
  );
}

function printResults(measurements: Measurement[], modes: Mode[], launchMs: number): void {
  const totals = new Map(modes.map((mode) => [mode.name, total(measurements.filter((m) => m.mode === mode.name))]));
  const rows = modes.map((mode) => {
    const t = totals.get(mode.name)!;
    const perRound = measurements.filter((m) => m.mode === mode.name).map((m) => perMinute(m.items, m.ms).toFixed(0));
    return [mode.name, String(t.items), (t.ms / 1000).toFixed(1), perMinute(t.items, t.ms).toFixed(1), perRound.join(' / '), t.peakMiB === undefined ? 'n/a' : t.peakMiB.toFixed(0)];
  });
  console.log();
  printTable(['mode', 'items', 'wall s', 'items/min', 'items/min per round', 'peak PSS MiB'], rows);
  console.log();
  console.log('ratios of items/min: all rounds together (each round on its own)');
  printRatio('worker / browser-per-job', 'worker', 'browser-per-job', measurements, totals);
  printRatio('plain-fetch / worker', 'plain-fetch', 'worker', measurements, totals);
  const items = measurements.reduce((sum, m) => sum + m.items, 0);
  console.log();
  console.log(`checked: ${items} PDFs, each starting with %PDF- and naming its invoice; the portal served each invoice exactly once per run`);
  console.log(`worker browser launch (once per worker process, outside the worker's time): ${launchMs.toFixed(0)} ms`);
}

function printRatio(label: string, numerator: string, denominator: string, measurements: Measurement[], totals: Map<string, Measurement>): void {
  const rate = (m: Measurement) => perMinute(m.items, m.ms);
  const rounds = [...new Set(measurements.map((m) => m.round))];
  const perRound = rounds.map((round) => {
    const of = (mode: string) => measurements.find((m) => m.mode === mode && m.round === round)!;
    return rate(of(numerator)) / rate(of(denominator));
  });
  const overall = rate(totals.get(numerator)!) / rate(totals.get(denominator)!);
  console.log(`  ${label.padEnd(26)} ${overall.toFixed(2)}x  (${perRound.map((ratio) => ratio.toFixed(2)).join(' / ')})`);
}

function total(runs: Measurement[]): Measurement {
  const peaks = runs.flatMap((m) => (m.peakMiB === undefined ? [] : [m.peakMiB]));
  return {
    mode: runs[0]?.mode ?? '',
    round: 0,
    items: runs.reduce((sum, m) => sum + m.items, 0),
    ms: runs.reduce((sum, m) => sum + m.ms, 0),
    peakMiB: peaks.length ? Math.max(...peaks) : undefined,
  };
}

function perMinute(items: number, ms: number): number {
  return (items / ms) * 60_000;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

main().catch((error: unknown) => {
  console.error('robot-throughput failed:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
