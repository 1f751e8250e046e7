import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import type { PortalFaults, PortalStats } from '../../sandbox/freight-portal';
import { LocalClient, isTerminal } from '../support/local-client';

/**
 * freight-pod-download on the local stack: API → workflow → the supervised worker process with
 * real Chromium → the sandbox freight portal (credentials from the local Secrets Manager).
 * Each test uses invoice numbers of its own, so portal download counts can be read per test.
 */
const outputs = inject('outputs');
const dataDir = inject('dataDir');
const client = new LocalClient(outputs);
let alice: string;

beforeAll(async () => {
  alice = await client.signInSeeded('clients');
});

afterEach(async () => {
  await portalAdmin('POST', '/__admin/faults', {});
});

async function portalAdmin<T = unknown>(method: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${outputs.PortalUrl}${route}`, {
    method,
    headers: { 'x-portal-admin': outputs.PortalAdminToken, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

const setFaults = (faults: PortalFaults) => portalAdmin('POST', '/__admin/faults', faults);
const portalStats = () => portalAdmin<PortalStats>('GET', '/__admin/stats');

/** `count` known invoices starting at `first` (6-12 digits, not starting with 404). */
const invoices = (first: number, count: number) => Array.from({ length: count }, (_, i) => String(first + i));

async function submit(invoiceNumbers: string[]): Promise<string> {
  const submitted = await client.api('POST', '/jobs', {
    token: alice,
    body: { robot: 'freight-pod-download', input: { portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName, invoices: invoiceNumbers } },
  });
  expect(submitted.status).toBe(202);
  return submitted.body.jobId;
}

interface ItemView {
  key: string;
  status: string;
  attempts: number;
  artifact?: { name: string; sha256: string; url: string };
  error?: { type: string; code: string };
  evidence?: Array<{ name: string; url: string }>;
}

async function itemsOf(jobId: string): Promise<ItemView[]> {
  const { status, body } = await client.api('GET', `/jobs/${jobId}/items?limit=100`, { token: alice });
  expect(status).toBe(200);
  return body.items;
}

const succeededCount = async (jobId: string) => (await itemsOf(jobId)).filter((item) => item.status === 'SUCCEEDED').length;

/** Waits until at least `count` items of the job have succeeded. */
const waitForSucceeded = (jobId: string, count: number) =>
  pollUntil(async () => ((await succeededCount(jobId)) >= count ? true : undefined), {
    timeoutMs: 90_000,
    intervalMs: 50,
    description: `${count} succeeded items of job ${jobId}`,
  });


const downloadsOf = (stats: PortalStats, invoiceNumbers: string[]) => invoiceNumbers.map((invoice) => stats.downloads[invoice] ?? 0);

describe('freight-pod-download on the local stack', () => {
  it('downloads 18 PODs, fails the 2 unknown invoices, and ends PARTIAL with a manifest', async () => {
    const known = invoices(710_000, 18);
    const unknown = ['404710001', '404710002'];
    const jobId = await submit([...known.slice(0, 5), unknown[0]!, ...known.slice(5, 12), unknown[1]!, ...known.slice(12)]);

    const job = await client.waitForJob(alice, jobId, isTerminal, 120_000);

    expect(job.status).toBe('PARTIAL');
    expect(job.artifacts.map((artifact: { name: string }) => artifact.name).sort()).toEqual(['manifest.csv', 'manifest.json']);
    const items = await itemsOf(jobId);
    expect(items).toHaveLength(20);
    for (const item of items.filter((candidate) => known.includes(candidate.key))) {
      expect(item.status).toBe('SUCCEEDED');
      const pdf = Buffer.from(await (await fetch(item.artifact!.url)).arrayBuffer());
      expect(pdf.toString('latin1')).toContain(`Invoice ${item.key}`);
      expect(createHash('sha256').update(pdf).digest('hex')).toBe(item.artifact!.sha256);
    }
    for (const item of items.filter((candidate) => unknown.includes(candidate.key))) {
      expect(item).toMatchObject({ status: 'FAILED', error: { type: 'BUSINESS', code: 'UNKNOWN_INVOICE' } });
      // A business error is not retried, so not traced: the page as it failed.
      expect(item.evidence?.map((file) => file.name)).toEqual(['screenshot.png', 'page.html']);
    }
    const manifestUrl = job.artifacts.find((artifact: { name: string }) => artifact.name === 'manifest.json').url;
    const manifest = (await (await fetch(manifestUrl)).json()) as { succeeded: number; failed: number; invoices: unknown[] };
    expect(manifest).toMatchObject({ succeeded: 18, failed: 2 });
    expect(manifest.invoices).toHaveLength(20);
    expect(downloadsOf(await portalStats(), known)).toEqual(Array(18).fill(1));
  });

  it('resumes a job whose worker was SIGKILLed mid-job, downloading no invoice twice', async () => {
    // A slow portal: after an item's checkpoint the robot spends over half a second on the next search,
    // so the kill lands between downloads (a download in flight would be repeated on resume).
    await setFaults({ latencyMs: 600 });
    const numbers = invoices(720_000, 8);
    const jobId = await submit(numbers);
    await waitForSucceeded(jobId, 3);

    const workerPid = Number(readFileSync(path.join(dataDir, 'worker.pid'), 'utf8'));
    process.kill(workerPid, 'SIGKILL');
    const job = await client.waitForJob(alice, jobId, isTerminal, 120_000);

    expect(job.status).toBe('SUCCEEDED');
    expect(job.attempts).toBe(2);
    expect(Number(readFileSync(path.join(dataDir, 'worker.pid'), 'utf8'))).not.toBe(workerPid);
    const items = await itemsOf(jobId);
    expect(items.every((item) => item.status === 'SUCCEEDED')).toBe(true);
    expect(downloadsOf(await portalStats(), numbers)).toEqual(Array(8).fill(1));
  });

  it('signs in again when the portal ends every session mid-job', async () => {
    await setFaults({ latencyMs: 300 });
    const numbers = invoices(730_000, 6);
    const jobId = await submit(numbers);
    await waitForSucceeded(jobId, 2);

    // Ends every session (and zeroes the counters): the robot's next page is the login form.
    await portalAdmin('POST', '/__admin/reset');
    const job = await client.waitForJob(alice, jobId, isTerminal, 120_000);

    expect(job.status).toBe('SUCCEEDED');
    const stats = await portalStats();
    expect(stats.logins).toBeGreaterThanOrEqual(1);
    expect(downloadsOf(stats, numbers).every((count) => count <= 1)).toBe(true);
    expect((await itemsOf(jobId)).every((item) => item.status === 'SUCCEEDED' && item.attempts === 1)).toBe(true);
  });

  it('stops between items when the job is cancelled mid-job', async () => {
    await setFaults({ latencyMs: 300 });
    const numbers = invoices(740_000, 10);
    const jobId = await submit(numbers);
    await waitForSucceeded(jobId, 2);

    const cancelled = await client.api('POST', `/jobs/${jobId}/cancel`, { token: alice });
    expect(cancelled.status).toBe(200);
    // The worker stops at the next item (or heartbeat) and reports back, which ends the execution.
    expect(await client.waitForExecutionEnd(jobId)).toBe('FAILED');

    const job = (await client.api('GET', `/jobs/${jobId}`, { token: alice })).body;
    expect(job.status).toBe('CANCELLED');
    expect(job.artifacts).toEqual([]);
    const items = await itemsOf(jobId);
    const done = items.filter((item) => item.status === 'SUCCEEDED').length;
    expect(items.filter((item) => item.status === 'PENDING')).toHaveLength(10 - done);
    expect(done).toBeLessThan(10);
    // Every download was recorded, except perhaps one the heartbeat's abort cut short.
    const downloads = downloadsOf(await portalStats(), numbers).reduce((sum, count) => sum + count, 0);
    expect(downloads - done).toBeGreaterThanOrEqual(0);
    expect(downloads - done).toBeLessThanOrEqual(1);
  });
});
