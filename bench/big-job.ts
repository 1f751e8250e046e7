import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ENV } from '../core/env-names';
import { WorkerBrowser, type WorkerBrowserOptions } from '../runtime/browser';
import { findInvoice, proofOfDeliveryPdf, startFreightPortal, type PortalStats } from '../sandbox/freight-portal';
import { LocalClient } from '../test/support/local-client';
import { startStackProcess, type StackProcess } from '../test/support/stack-process';
import { crawlPods } from './crawlee-peer';
import { fetchPods } from './plain-fetch';
import { ProcessTreeMemory } from './process-tree-memory';
import { BrowserPerJob, WorkerHarness, type PortalTarget } from './worker-harness';

/**
 * Big freight-pod-download jobs through the local stack (API → workflow → Map of chunks → worker
 * processes → sandbox portal), and, in one interleaved run at one portal latency, the fan-out at
 * 1, 2 and 4 worker processes against today's sequential path, a new browser per job, a Crawlee
 * PlaywrightCrawler and plain HTTP fetches. Every run is verified (job SUCCEEDED, every invoice
 * downloaded, every stored PDF the portal's own bytes) or the bench exits 1. See bench/README.md.
 */

const USAGE = `Usage: npm run bench:big-job -- [options]
  --invoices N            invoices of the big job (default 5000; the robot accepts up to 5000)
  --latency-ms LIST       portal latencies per request for the big job, comma-separated (default 20,300)
  --big-workers N         worker processes for the big job (default 2)
  --workers LIST          worker processes of the fan-out modes compared (default 1,2,4)
  --compare-invoices N    invoices per job in the comparison (default 100)
  --compare-latency-ms N  portal latency of the comparison (default 300)
  --concurrency N         pages at once for Crawlee and plain fetch: one worker's, WORKER_CONCURRENCY 2 x 4 pages (default 8)
  --rounds N              comparison rounds, modes in rotating order (default 1)
  --portal-sessions N     portal session cap of the stacks, PORTAL_MAX_SESSIONS (default 8)
  --skip LIST             parts to leave out: big, compare (default none)
Env: CHROMIUM_PATH to use another Chromium than @sparticuz/chromium's.`;

interface Options {
  invoices: number;
  latencies: number[];
  bigWorkers: number;
  workers: number[];
  compareInvoices: number;
  compareLatencyMs: number;
  concurrency: number;
  rounds: number;
  portalSessions: number;
  skip: Set<string>;
}

interface StackRunSpec {
  label: string;
  workers: number;
  invoices: string[];
  latencyMs: number;
  portalSessions: number;
  /** Extra stack environment (stage settings), e.g. the chunk size. */
  env?: Record<string, string>;
  /** Prints the job's progress while it runs. */
  watch?: boolean;
}

interface Run {
  mode: string;
  round: number;
  items: number;
  ms: number;
  /** Peak PSS of the whole stack's process tree (emulators, Lambdas, workers, Chromium); in-process modes: this process. */
  peakMiB?: number;
  /** Peak PSS of the worker processes' trees (each with its Chromium). */
  workersPeakMiB?: number;
  logins?: number;
  /** Logins the job record counted, when the stack counts them. */
  jobLogins?: number;
  /** Downloads beyond one per invoice. */
  duplicates: number;
  attempts?: number;
}

const CREDENTIALS = { username: 'bench-robot', password: 'Bench-Portal-Passw0rd' };
/** The sequential mode: the whole job in one chunk on one page, as before the fan-out. */
const SEQUENTIAL = { [ENV.jobChunkSize]: '5000', [ENV.robotPagesPerSession]: '1' };

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  console.log(`big-job: freight-pod-download through the local stack; Node ${process.version}, ${availableParallelism()} CPUs, ${new Date().toISOString()}`);
  if (!options.skip.has('big')) {
    for (const latencyMs of options.latencies) {
      const invoices = invoiceRange(700_000_000, options.invoices);
      console.log(`\n(a) one ${invoices.length}-invoice job, portal ${latencyMs} ms/request, ${options.bigWorkers} worker process(es), portal cap ${options.portalSessions} sessions`);
      const run = await runStackJob({ label: `big-${latencyMs}ms`, workers: options.bigWorkers, invoices, latencyMs, portalSessions: options.portalSessions, watch: true });
      printBig(run);
    }
  }
  if (!options.skip.has('compare')) await compare(options);
}

/** (b)-(d): every mode on the same invoices and portal latency, in rotating order per round. */
async function compare(options: Options): Promise<void> {
  const invoices = invoiceRange(710_000_000, options.compareInvoices);
  const latencyMs = options.compareLatencyMs;
  // The in-process modes share one portal: same code and latency as the stacks' portals.
  const portal = await startFreightPortal({ ...CREDENTIALS, faults: { latencyMs } });
  const target: PortalTarget = { url: portal.url, ...CREDENTIALS };
  process.env[ENV.egressAllowHosts] = new URL(portal.url).host;
  const { robotCatalog } = await import('../robots');
  const executablePath = process.env[ENV.chromiumPath]?.trim();
  const browserOptions: WorkerBrowserOptions = executablePath ? { executablePath } : {};
  const perJob = new WorkerHarness({ portal: target, robots: robotCatalog, sessions: new BrowserPerJob(browserOptions), concurrency: 1 });

  type Mode = { name: string; run(round: number): Promise<Run> };
  const stackMode = (name: string, workers: number, env?: Record<string, string>): Mode => ({
    name,
    run: (round) => runStackJob({ label: name, workers, invoices, latencyMs, portalSessions: options.portalSessions, ...(env ? { env } : {}) }).then((run) => ({ ...run, mode: name, round })),
  });
  const inProcess = (name: string, work: () => Promise<void>, allowRepeats = false): Mode => ({
    name,
    run: async (round) => {
      portal.reset();
      const memory = new ProcessTreeMemory();
      memory.start();
      const started = performance.now();
      await work();
      const ms = performance.now() - started;
      const peakMiB = await memory.stop();
      const stats = portal.stats();
      const duplicates = checkDownloads(name, invoices, stats, allowRepeats);
      return { mode: name, round, items: invoices.length, ms, ...(peakMiB ? { peakMiB } : {}), logins: stats.logins, duplicates };
    },
  });
  const modes: Mode[] = [
    ...options.workers.map((workers) => stackMode(`fan-out ${workers}w`, workers)),
    stackMode('sequential', 1, SEQUENTIAL),
    inProcess('browser-per-job', () => perJob.runJob(invoices)),
    inProcess(`crawlee c=${options.concurrency}`, () => crawlPods(target, invoices, { concurrency: options.concurrency, ...(executablePath ? { executablePath } : {}) }), true),
    inProcess(`plain-fetch c=${options.concurrency}`, () => fetchPods(target, invoices, options.concurrency)),
  ];

  console.log(`\n(b)-(d) interleaved comparison: ${invoices.length} invoices per job, portal ${latencyMs} ms/request, ${options.rounds} round(s), portal cap ${options.portalSessions}`);
  try {
    // Untimed: unpacks Chromium and warms the JIT for the in-process modes.
    const warmUp = new WorkerBrowser(browserOptions);
    await (await warmUp.open({ allowHosts: [], onRefused: () => {} })).close();
    await warmUp.close();
    const runs: Run[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (let turn = 0; turn < modes.length; turn++) {
        const mode = modes[(round - 1 + turn) % modes.length]!;
        const run = await mode.run(round);
        console.log(`  round ${round} ${mode.name.padEnd(18)} ${perMinute(run.items, run.ms).toFixed(1).padStart(7)} items/min (${(run.ms / 1000).toFixed(1)} s)`);
        runs.push(run);
      }
    }
    printComparison(runs, modes.map((mode) => mode.name), options);
  } finally {
    await portal.close();
  }
}

/** Starts a stack, submits one job, waits for it, verifies it and stops the stack. */
async function runStackJob(spec: StackRunSpec): Promise<Run> {
  const stack = await startStackProcess({ args: ['--workers', String(spec.workers)], env: { [ENV.portalMaxSessions]: String(spec.portalSessions), ...spec.env } });
  try {
    const client = new LocalClient(stack.outputs);
    const token = await client.signInSeeded('clients');
    const admin = portalAdmin(stack);
    await admin('POST', '/__admin/faults', { latencyMs: spec.latencyMs });
    // Untimed warm-up: one one-invoice job per worker, so that each launches its Chromium first.
    const warmUp = await Promise.all(Array.from({ length: spec.workers }, (_, index) => submit(client, token, stack, [String(799_000_000 + index)])));
    for (const jobId of warmUp) await client.waitForJob(token, jobId, (job) => job.status === 'SUCCEEDED', 300_000);
    await admin('POST', '/__admin/reset');

    // The supervisor rewrites the file when a worker restarts; gone once the stack stops.
    const workerPids = () => {
      const file = path.join(stack.dataDir, 'worker.pid');
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    };
    const whole = new ProcessTreeMemory(1_000, () => [stack.pid]);
    const workers = new ProcessTreeMemory(1_000, workerPids);
    whole.start();
    workers.start();
    const started = performance.now();
    const jobId = await submit(client, token, stack, spec.invoices);
    let lastPrint = started;
    const job = await client.waitForJob(
      token,
      jobId,
      (view) => {
        if (spec.watch && performance.now() - lastPrint > 30_000) {
          lastPrint = performance.now();
          const p = view.progress ?? {};
          console.log(`  ${((lastPrint - started) / 1000).toFixed(0)} s: ${view.status} succeeded ${p.succeeded ?? 0}/${p.total ?? '?'} failed ${p.failed ?? 0}, ${p.itemsPerMinute ?? '?'} items/min`);
        }
        return ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED', 'TIMED_OUT'].includes(view.status);
      },
      24 * 3_600_000,
    );
    const ms = performance.now() - started;
    const [peakMiB, workersPeakMiB] = [await whole.stop(), await workers.stop()];
    const stats = await admin<PortalStats>('GET', '/__admin/stats');
    const duplicates = await verifyJob(spec, job, stats);
    return {
      mode: spec.label,
      round: 0,
      items: spec.invoices.length,
      ms,
      ...(peakMiB ? { peakMiB } : {}),
      ...(workersPeakMiB ? { workersPeakMiB } : {}),
      logins: stats.logins,
      ...(typeof job.logins === 'number' ? { jobLogins: job.logins } : {}),
      duplicates,
      attempts: job.attempts,
    };
  } catch (error) {
    console.error(`${spec.label}: stack output tail:\n${stack.output().slice(-3_000)}`);
    throw error;
  } finally {
    await stack.stop();
  }
}

async function submit(client: LocalClient, token: string, stack: StackProcess, invoices: string[]): Promise<string> {
  const { status, body } = await client.api('POST', '/jobs', {
    token,
    body: { robot: 'freight-pod-download', input: { portalUrl: stack.outputs.PortalUrl, credentialsSecret: stack.outputs.PortalSecretName, invoices } },
  });
  if (status !== 202) throw new Error(`POST /jobs answered ${status}: ${JSON.stringify(body)}`);
  return body.jobId as string;
}

/**
 * A fast run must be a correct one: the job SUCCEEDED with every item counted, its manifest lists
 * every invoice with the sha256 of exactly the PDF the portal serves for it, and the portal served
 * every invoice. Answers the downloads beyond one per invoice (retries after a kill or a 5xx).
 */
async function verifyJob(spec: StackRunSpec, job: any, stats: PortalStats): Promise<number> {
  const label = spec.label;
  const total = spec.invoices.length;
  if (job.status !== 'SUCCEEDED') throw new Error(`${label}: job ${job.jobId} ended ${job.status}: ${JSON.stringify(job.error ?? job.progress)}`);
  if (job.progress?.succeeded !== total || job.progress?.total !== total) throw new Error(`${label}: progress ${JSON.stringify(job.progress)} for ${total} invoices`);
  const manifests = (job.artifacts as Array<{ name: string; url: string }>).filter((artifact) => artifact.name === 'manifest.json');
  if (manifests.length !== 1) throw new Error(`${label}: ${manifests.length} manifest.json artifacts`);
  const manifest = (await (await fetch(manifests[0]!.url)).json()) as { succeeded: number; invoices: Array<{ invoice: string; status: string; sha256: string }> };
  const rows = new Map(manifest.invoices.map((row) => [row.invoice, row]));
  const wrong = spec.invoices.filter((invoice) => {
    const row = rows.get(invoice);
    return row?.status !== 'SUCCEEDED' || row.sha256 !== createHash('sha256').update(proofOfDeliveryPdf(findInvoice(invoice)!)).digest('hex');
  });
  if (manifest.succeeded !== total || rows.size !== total || wrong.length) {
    throw new Error(`${label}: manifest says ${manifest.succeeded} succeeded of ${rows.size} rows; not the portal's PDF: ${wrong.slice(0, 5).join(', ')}`);
  }
  return checkDownloads(label, spec.invoices, stats, true);
}

/** Every invoice downloaded (exactly once unless repeats are allowed); answers the repeats. */
function checkDownloads(label: string, invoices: readonly string[], stats: PortalStats, allowRepeats: boolean): number {
  const missing = invoices.filter((invoice) => !stats.downloads[invoice]);
  const duplicates = invoices.reduce((sum, invoice) => sum + Math.max(0, (stats.downloads[invoice] ?? 0) - 1), 0);
  if (missing.length || (!allowRepeats && duplicates)) throw new Error(`${label}: ${missing.length} invoices never downloaded (${missing.slice(0, 5).join(', ')}), ${duplicates} downloaded again`);
  return duplicates;
}

function portalAdmin(stack: StackProcess) {
  return async <T = unknown>(method: string, route: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${stack.outputs.PortalUrl}${route}`, {
      method,
      headers: { 'x-portal-admin': stack.outputs.PortalAdminToken, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status !== 200) throw new Error(`portal ${method} ${route}: ${response.status}`);
    return (await response.json()) as T;
  };
}

function printBig(run: Run): void {
  console.log(
    `  SUCCEEDED: ${run.items} invoices in ${(run.ms / 1000).toFixed(1)} s = ${perMinute(run.items, run.ms).toFixed(1)} items/min; ` +
      `portal logins ${run.logins}${run.jobLogins === undefined ? '' : ` (job counted ${run.jobLogins})`}, repeated downloads ${run.duplicates}, attempts ${run.attempts}; ` +
      `peak PSS ${mib(run.workersPeakMiB)} MiB workers (with Chromium), ${mib(run.peakMiB)} MiB whole stack`,
  );
  console.log(`  checked: job SUCCEEDED, progress ${run.items}/${run.items}, one manifest with the sha256 of the portal's own PDF for every invoice, every invoice downloaded`);
}

function printComparison(runs: Run[], names: string[], options: Options): void {
  const totals = new Map(names.map((name) => [name, runs.filter((run) => run.mode === name)]));
  const rate = (name: string) => {
    const of = totals.get(name) ?? [];
    return perMinute(sum(of.map((run) => run.items)), sum(of.map((run) => run.ms)));
  };
  console.log();
  const rows = names.map((name) => {
    const of = totals.get(name)!;
    const peak = Math.max(...of.map((run) => run.workersPeakMiB ?? run.peakMiB ?? 0));
    return [name, rate(name).toFixed(1), of.map((run) => perMinute(run.items, run.ms).toFixed(0)).join(' / '), String(Math.max(...of.map((run) => run.logins ?? 0))), String(sum(of.map((run) => run.duplicates))), peak ? peak.toFixed(0) : 'n/a'];
  });
  printTable(['mode', 'items/min', 'per round', 'logins', 'repeats', 'peak PSS MiB'], rows);
  const one = `fan-out ${options.workers[0]}w`;
  console.log('\nratios of items/min (all rounds together)');
  const ratio = (label: string, numerator: string, denominator: string) => {
    if (totals.has(numerator) && totals.has(denominator)) console.log(`  ${label.padEnd(40)} ${(rate(numerator) / rate(denominator)).toFixed(2)}x`);
  };
  ratio(`${one} / browser-per-job (goal >= 5)`, one, 'browser-per-job');
  ratio(`${one} / sequential`, one, 'sequential');
  for (const workers of options.workers.slice(1)) ratio(`fan-out ${workers}w / ${one} (linear: ${workers / options.workers[0]!})`, `fan-out ${workers}w`, one);
  ratio(`${one} / crawlee (goal > 1)`, one, `crawlee c=${options.concurrency}`);
  ratio(`time per item ${one} / plain fetch (goal <= 3)`, `plain-fetch c=${options.concurrency}`, one);
  console.log(`  (Crawlee and plain fetch at ${options.concurrency} pages/requests at once; a fan-out worker runs WORKER_CONCURRENCY chunks at once)`);
  console.log(`checked: every stack job SUCCEEDED with a verified manifest; every in-process mode got each invoice's PDF (%PDF-, names its invoice)`);
}

const invoiceRange = (first: number, count: number) => Array.from({ length: count }, (_, index) => String(first + index));
const perMinute = (items: number, ms: number) => (items / ms) * 60_000;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const mib = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(0));

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      invoices: { type: 'string', default: '5000' },
      'latency-ms': { type: 'string', default: '20,300' },
      'big-workers': { type: 'string', default: '2' },
      workers: { type: 'string', default: '1,2,4' },
      'compare-invoices': { type: 'string', default: '100' },
      'compare-latency-ms': { type: 'string', default: '300' },
      concurrency: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '1' },
      'portal-sessions': { type: 'string', default: '8' },
      skip: { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const list = (flag: string, text: string, max: number, min = 1) => text.split(',').map((part) => integer(flag, part.trim(), max, min));
  const skip = new Set(values.skip.split(',').map((part) => part.trim()).filter(Boolean));
  for (const part of skip) if (part !== 'big' && part !== 'compare') fail(`--skip takes big and/or compare, got "${part}"`);
  return {
    invoices: integer('invoices', values.invoices, 5_000),
    latencies: list('latency-ms', values['latency-ms'], 60_000, 0),
    bigWorkers: integer('big-workers', values['big-workers'], 8),
    workers: list('workers', values.workers, 8),
    compareInvoices: integer('compare-invoices', values['compare-invoices'], 5_000),
    compareLatencyMs: integer('compare-latency-ms', values['compare-latency-ms'], 60_000, 0),
    concurrency: integer('concurrency', values.concurrency, 32),
    rounds: integer('rounds', values.rounds, 100),
    portalSessions: integer('portal-sessions', values['portal-sessions'], 64),
    skip,
  };
}

function integer(flag: string, text: string, max: number, min = 1): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) fail(`--${flag} must be integers from ${min} to ${max}, got "${text}"`);
  return value;
}

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

main().catch((error: unknown) => {
  console.error('big-job failed:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
