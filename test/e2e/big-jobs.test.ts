import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import type { PortalFaults, PortalStats } from '../../sandbox/freight-portal';
import { LocalClient, isTerminal } from '../support/local-client';
import { startStackProcess, type StackProcess } from '../support/stack-process';

/**
 * Big jobs across a fleet: a stack of its own with two worker processes (the shared e2e stack runs
 * one), chunks of 25 items, a portal cap of 4 sessions. Every item must be downloaded exactly once
 * (the portal's per-invoice counters), the job must have one manifest and item counters that add
 * up, also when a worker is SIGKILLed mid-chunk and when the portal answers 30% of requests 503.
 *
 * BIG_JOB_ITEMS sets the size of the first job (default 100, so that the file fits the suite's
 * budget on 2 shared cores; the issue's 1,000 with BIG_JOB_ITEMS=1000).
 */
const ITEMS = Number(process.env.BIG_JOB_ITEMS ?? 100);
const WORKERS = 2;
const WORKER_CONCURRENCY = 2;
const CHUNK_SIZE = 25;
/** The freight robot's pages per portal session (the local stage's bound is the same 4). */
const PAGES_PER_SESSION = 4;

let stack: StackProcess;
let client: LocalClient;
let token: string;

beforeAll(async () => {
  stack = await startStackProcess({
    args: ['--workers', String(WORKERS), '--worker-restart-max-ms', '1000'],
    env: { WORKER_HEARTBEAT_SECONDS: '2', WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), JOB_CHUNK_SIZE: String(CHUNK_SIZE), PORTAL_MAX_SESSIONS: '4' },
  });
  client = new LocalClient(stack.outputs);
  token = await client.signInSeeded('clients');
});

afterAll(async () => {
  await stack?.stop();
});

async function portalAdmin<T>(method: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${stack.outputs.PortalUrl}${route}`, {
    method,
    headers: { 'x-portal-admin': stack.outputs.PortalAdminToken, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

const setFaults = (faults: PortalFaults) => portalAdmin('POST', '/__admin/faults', faults);
const portalStats = () => portalAdmin<PortalStats>('GET', '/__admin/stats');
const invoicesFrom = (first: number, count: number) => Array.from({ length: count }, (_, i) => String(first + i));

async function submit(invoices: string[]): Promise<string> {
  const { status, body } = await client.api('POST', '/jobs', {
    token,
    body: { robot: 'freight-pod-download', input: { portalUrl: stack.outputs.PortalUrl, credentialsSecret: stack.outputs.PortalSecretName, invoices } },
  });
  expect(status).toBe(202);
  return body.jobId;
}

interface Outcome {
  job: any;
  /** Downloads of each invoice during the job. */
  downloads: number[];
  logins: number;
  ms: number;
}

/** Runs one job to its end and answers what the portal served for it. */
async function runJob(invoices: string[], during?: (jobId: string) => Promise<void>): Promise<Outcome> {
  const before = await portalStats();
  const started = Date.now();
  const jobId = await submit(invoices);
  await during?.(jobId);
  const job = await client.waitForJob(token, jobId, isTerminal, 600_000);
  const ms = Date.now() - started;
  const after = await portalStats();
  return { job, downloads: invoices.map((invoice) => (after.downloads[invoice] ?? 0) - (before.downloads[invoice] ?? 0)), logins: after.logins - before.logins, ms };
}

function printFigures(name: string, invoices: string[], { job, downloads, logins, ms }: Outcome, extra: Record<string, unknown> = {}): void {
  const figures = {
    items: invoices.length,
    downloads: downloads.reduce((a, b) => a + b, 0),
    duplicates: downloads.reduce((sum, count) => sum + Math.max(0, count - 1), 0),
    missing: downloads.filter((count) => count === 0).length,
    logins,
    attempts: job.attempts,
    wallS: (ms / 1000).toFixed(1),
    ...extra,
  };
  console.log(`big-jobs ${name}: ${Object.entries(figures).map(([key, value]) => `${key}=${value}`).join(' ')}`);
}

/** One manifest (JSON and CSV), listing every invoice SUCCEEDED; progress counters that add up. */
async function expectCompleteJob(job: any, invoices: string[]): Promise<void> {
  expect(job.status).toBe('SUCCEEDED');
  expect(job.progress).toMatchObject({ total: invoices.length, succeeded: invoices.length, failed: 0, pending: 0 });
  expect(job.artifacts.map((artifact: { name: string }) => artifact.name).sort()).toEqual(['manifest.csv', 'manifest.json']);
  const manifest = await (await fetch(job.artifacts.find((artifact: { name: string }) => artifact.name === 'manifest.json').url)).json();
  expect(manifest).toMatchObject({ succeeded: invoices.length, failed: 0 });
  expect(manifest.invoices.map((row: { invoice: string }) => row.invoice)).toEqual(invoices);
}

describe('big jobs over chunks and two worker processes', () => {
  it(`runs ${ITEMS} items in ${Math.ceil(ITEMS / CHUNK_SIZE)} chunks: every POD downloaded exactly once, one manifest, counts that add up`, async () => {
    const invoices = invoicesFrom(770_000_000, ITEMS);
    await setFaults({ latencyMs: 20 });
    const outcome = await runJob(invoices);
    printFigures('fan-out', invoices, outcome, { chunks: Math.ceil(ITEMS / CHUNK_SIZE), workers: WORKERS });
    await expectCompleteJob(outcome.job, invoices);
    expect(outcome.downloads).toEqual(invoices.map(() => 1));
  }, 600_000);

  it('a worker SIGKILLed mid-chunk: the job still SUCCEEDS, only the items in flight are downloaded again', async () => {
    const invoices = invoicesFrom(771_000_000, 75);
    await setFaults({ latencyMs: 50 });
    let killed = 0;
    const outcome = await runJob(invoices, async (jobId) => {
      // Mid-chunk: some items of the job have succeeded, and chunks are still running on both workers.
      await pollUntil(
        async () => {
          const { body } = await client.api('GET', `/jobs/${jobId}`, { token });
          return (body.progress?.succeeded ?? 0) >= 10 ? true : undefined;
        },
        { timeoutMs: 240_000, intervalMs: 100, description: 'ten items done' },
      );
      killed = Number(readFileSync(path.join(stack.dataDir, 'worker.pid'), 'utf8').split('\n')[0]);
      process.kill(killed, 'SIGKILL');
    });
    // A killed worker held at most WORKER_CONCURRENCY chunks, each with one item in flight per page.
    const inFlightBound = WORKER_CONCURRENCY * PAGES_PER_SESSION;
    printFigures('worker-sigkill', invoices, outcome, { killedPid: killed, inFlightBound });
    await expectCompleteJob(outcome.job, invoices);
    expect(outcome.downloads.every((count) => count >= 1)).toBe(true);
    const duplicates = outcome.downloads.reduce((sum, count) => sum + count - 1, 0);
    expect(duplicates).toBeLessThanOrEqual(inFlightBound);
    // Nothing downloaded more than twice: once by the killed worker, once by the chunk's next run.
    expect(Math.max(...outcome.downloads)).toBeLessThanOrEqual(2);
  }, 600_000);

  it('a portal answering 30% of requests 503 still delivers every invoice', async () => {
    const invoices = invoicesFrom(772_000_000, 50);
    await setFaults({ latencyMs: 20, errorRate: 0.3 });
    try {
      const outcome = await runJob(invoices);
      printFigures('portal-503', invoices, outcome, { errorRate: 0.3 });
      await expectCompleteJob(outcome.job, invoices);
      expect(outcome.downloads.every((count) => count >= 1)).toBe(true);
    } finally {
      await setFaults({});
    }
  }, 600_000);
});
