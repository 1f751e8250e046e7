import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import type { ItemRobot, RobotContext } from '../core/robot';
import { WorkerBrowser, type JobSession } from '../runtime/browser';
import { startFreightPortal, type FreightPortal } from '../sandbox/freight-portal';
import { treesPssKb } from './process-tree-memory';

/**
 * What per-item evidence and pages cost, for freight-pod-download in the worker's browser
 * against the sandbox portal (in-process, with a per-request latency):
 *   1. items/s on one page with a Playwright trace (screenshots + DOM snapshots) recorded for
 *      every item, as the runtime did before, versus none (now: only retried tries are traced).
 *      The two modes take turns round by round; the ratio is the result.
 *   2. PSS of the process tree (Node + Chromium) per open page of one signed-in context, and
 *      its growth per item on one page, and after that page is replaced by a fresh one.
 * Linux only for the memory figures (/proc).
 */
const USAGE = `Usage: npx tsx bench/evidence-cost.ts [--items N] [--rounds N] [--latency-ms N] [--grow-items N]
  --items N       items per mode and round (default 20)
  --rounds N      rounds, modes alternating (default 4)
  --latency-ms N  portal latency per request (default 20)
  --grow-items N  items on one page for the growth figure (default 150)
Env: CHROMIUM_PATH to use another Chromium than @sparticuz/chromium's.`;

const CREDENTIALS = { username: 'bench-robot', password: 'Bench-Passw0rd-1' };
const FIRST_INVOICE = 600_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { items: { type: 'string' }, rounds: { type: 'string' }, 'latency-ms': { type: 'string' }, 'grow-items': { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) return console.info(USAGE);
  const items = positive(values.items, 20);
  const rounds = positive(values.rounds, 4);
  const latencyMs = Number(values['latency-ms'] ?? 20);
  const growItems = positive(values['grow-items'], 150);

  const portal = await startFreightPortal({ ...CREDENTIALS, faults: { latencyMs } });
  // Robots read the egress allowlist when their module loads.
  process.env.EGRESS_ALLOW_HOSTS = new URL(portal.url).host;
  const { freightPodDownload } = await import('../robots/freight-pod-download');
  const browser = new WorkerBrowser({ executablePath: process.env.CHROMIUM_PATH });
  const bench = new Bench(portal, freightPodDownload, browser);
  try {
    console.info(`evidence-cost: ${items} items x ${rounds} rounds per mode, portal latency ${latencyMs} ms, node ${process.version}`);
    const rates: Record<'traced' | 'untraced', number[]> = { traced: [], untraced: [] };
    for (let round = 0; round < rounds; round++) {
      const order: Array<'traced' | 'untraced'> = round % 2 === 0 ? ['traced', 'untraced'] : ['untraced', 'traced'];
      for (const mode of order) rates[mode].push(await bench.itemsPerSecond(items, mode === 'traced'));
    }
    const traced = median(rates.traced);
    const untraced = median(rates.untraced);
    console.info(`  trace every item: ${traced.toFixed(2)} items/s (rounds: ${rates.traced.map((rate) => rate.toFixed(2)).join(', ')})`);
    console.info(`  no trace:         ${untraced.toFixed(2)} items/s (rounds: ${rates.untraced.map((rate) => rate.toFixed(2)).join(', ')})`);
    console.info(`  per item: ${(1000 / traced).toFixed(0)} ms traced vs ${(1000 / untraced).toFixed(0)} ms; untraced / traced = ${(untraced / traced).toFixed(2)}x`);
    await bench.memory(growItems);
  } finally {
    await browser.close();
    await portal.close();
  }
}

class Bench {
  private next = FIRST_INVOICE;
  constructor(
    private readonly portal: FreightPortal,
    private readonly robot: ItemRobot<{ portalUrl: string; credentialsSecret: string; invoices: string[] }>,
    private readonly browser: WorkerBrowser,
  ) {}

  private input() {
    return { portalUrl: this.portal.url, credentialsSecret: 'bench', invoices: [] as string[] };
  }

  private context(page: Page): RobotContext {
    const quiet = { info: () => {}, warn: () => {}, error: () => {} };
    return {
      page,
      signal: new AbortController().signal,
      log: quiet,
      saveArtifact: async () => {},
      progress: () => {},
      credentials: async () => ({
        username: CREDENTIALS.username,
        fill: (target, field) => target.fill(field === 'username' ? CREDENTIALS.username : CREDENTIALS.password),
      }),
    };
  }

  private async signedIn(): Promise<JobSession> {
    const session = await this.browser.open({ allowHosts: [new URL(this.portal.url).host], onRefused: () => {} }, { traceItems: true });
    await this.robot.login!(this.context(session.page), this.input());
    return session;
  }

  private async item(session: JobSession, page: Page, traced: boolean): Promise<void> {
    const key = String(this.next++);
    if (traced) await session.startItemTrace(key);
    await this.robot.processItem(this.context(page), { key }, this.input());
    if (traced) await session.stopItemTrace(false);
  }

  async itemsPerSecond(items: number, traced: boolean): Promise<number> {
    const session = await this.signedIn();
    try {
      const started = performance.now();
      for (let index = 0; index < items; index++) await this.item(session, session.page, traced);
      return items / ((performance.now() - started) / 1000);
    } finally {
      await session.close();
    }
  }

  async memory(growItems: number): Promise<void> {
    const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
    const pss = async () => (await settle(), (await treesPssKb([process.pid])) / 1024);
    const session = await this.signedIn();
    try {
      await this.item(session, session.page, false);
      const onePage = await pss();
      const pages = [session.page];
      for (let count = 2; count <= 4; count++) pages.push(await session.newPage());
      await Promise.all(pages.slice(1).map((page) => this.item(session, page, false)));
      const fourPages = await pss();
      console.info(`  PSS (Node + Chromium): 1 page ${onePage.toFixed(0)} MiB, 4 pages ${fourPages.toFixed(0)} MiB: ${((fourPages - onePage) / 3).toFixed(1)} MiB per extra page`);
      for (const page of pages.slice(1)) await page.close();
      const before = await pss();
      for (let index = 0; index < growItems; index++) await this.item(session, session.page, false);
      const after = await pss();
      const fresh = await session.replacePage(session.page);
      await this.item(session, fresh, false);
      const replaced = await pss();
      console.info(
        `  one page over ${growItems} items: ${before.toFixed(0)} -> ${after.toFixed(0)} MiB (${(((after - before) * 1024) / growItems).toFixed(0)} KiB per item); ` +
          `after replacing the page: ${replaced.toFixed(0)} MiB`,
      );
    } finally {
      await session.close();
    }
  }
}

function positive(raw: string | undefined, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`expected a positive integer, got ${raw}`);
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

await main();
