import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job';
import { createLogger } from '../../core/logger';
import { WorkerBrowser } from '../../runtime/browser';
import type { AttemptControl, RuntimeDeps } from '../../runtime/robot-runtime';
import { startFreightPortal, type FreightPortal } from '../../sandbox/freight-portal';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { MemoryArtifactStore, MemoryPortalLeases, MemorySecrets } from '../support/robot-runtime-fakes';

/**
 * freight-pod-download in real Chromium, behind the worker's egress guard, against the sandbox
 * freight portal, run by the worker's robot runtime (item checkpoints in memory).
 */
const CREDENTIALS = { username: 'pod-robot', password: 'Portal-Passw0rd-42' };
const SECRET_NAME = 'roboport/test/robots/shared/freight-portal';
const KNOWN = Array.from({ length: 18 }, (_, i) => String(500100 + i * 7));
const UNKNOWN = ['404123', '4040001'];
/** 20 invoices, two unknown ones among them, one repeat (dropped by the input schema). */
const INVOICES = [...KNOWN.slice(0, 9), UNKNOWN[0]!, ...KNOWN.slice(9), UNKNOWN[1]!, KNOWN[0]!];

let portal: FreightPortal;
/** Ends a session after 5 requests: a login lasts about two invoices. */
let expiringPortal: FreightPortal;
/** A page with the portal's login form on another host, recording every request body it gets. */
let phishing: TestSite & { requests: string[] };
/** A host whose /login redirects to the phishing page. */
let redirector: TestSite;
let phishingHosts: string[] = [];
let runRobotJob: typeof import('../../runtime/robot-runtime').runRobotJob;
let robotCatalog: typeof import('../../robots').robotCatalog;
const browser = new WorkerBrowser({ executablePath: process.env.CHROMIUM_PATH, closeTimeoutMs: 5_000 });

beforeAll(async () => {
  portal = await startFreightPortal({ ...CREDENTIALS });
  expiringPortal = await startFreightPortal({ ...CREDENTIALS, sessionMaxRequests: 5 });
  const requests: string[] = [];
  phishing = Object.assign(
    await startTestSite(async (request, response) => {
      requests.push(`${request.method} ${request.url} ${await bodyOf(request)}`);
      response.writeHead(200, { 'content-type': 'text/html' }).end(
        '<form id="login" method="post" action="/login"><input name="username"><input name="password" type="password"><button type="submit">Sign in</button></form>',
      );
    }),
    { requests },
  );
  redirector = await startTestSite((_request, response) => void response.writeHead(302, { location: `${phishing.url}/login` }).end());
  phishingHosts = [phishing, redirector].map((site) => new URL(site.url).host);
  // Robots read the egress allowlist when their module loads.
  process.env.EGRESS_ALLOW_HOSTS = [...[portal, expiringPortal].map((started) => new URL(started.url).host), ...phishingHosts].join(',');
  ({ runRobotJob } = await import('../../runtime/robot-runtime'));
  ({ robotCatalog } = await import('../../robots'));
});

afterAll(async () => {
  await browser.close();
  await portal?.close();
  await expiringPortal?.close();
  await phishing?.close();
  await redirector?.close();
});

interface TestSite {
  url: string;
  close(): Promise<void>;
}

async function startTestSite(handle: (request: IncomingMessage, response: ServerResponse) => void | Promise<void>): Promise<TestSite> {
  const server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeEach(() => {
  portal.reset();
  portal.setFaults({});
});

interface Harness {
  deps: RuntimeDeps;
  jobs: MemoryJobStore;
  items: MemoryItemStore;
  files: MemoryArtifactStore;
  job: Job;
}

function harness(
  invoices: string[] = INVOICES,
  target: FreightPortal = portal,
  { portalUrl = target.url, boundHost = new URL(target.url).host, pages = 4 } = {},
): Harness {
  const jobs = new MemoryJobStore();
  const items = new MemoryItemStore();
  const files = new MemoryArtifactStore();
  const job = makeJob({
    robot: 'freight-pod-download',
    status: 'RUNNING',
    input: { portalUrl, credentialsSecret: SECRET_NAME, invoices },
  });
  void jobs.create(job);
  const deps: RuntimeDeps = {
    s3: files.client,
    artifactsBucket: 'artifacts',
    store: jobs,
    items,
    leases: new MemoryPortalLeases(),
    // Bound to the portal's host only, as PUT /secrets/{name} binds them.
    secrets: new MemorySecrets({ [SECRET_NAME]: { value: JSON.stringify(CREDENTIALS), hosts: [boundHost] } }),
    secretsPrefix: 'roboport/test/robots/',
    portalSessions: { default: 2, byHost: {} },
    leaseTtlSeconds: 30,
    leaseWaitMs: 10_000,
    robots: robotCatalog,
    sessions: browser,
    egressAllowHosts: [new URL(target.url).host, ...phishingHosts],
    log: createLogger({ test: 'freight-robot' }),
    // The robot declares 4 pages; the stage's bound decides.
    maxPagesPerSession: pages,
  };
  return { deps, jobs, items, files, job };
}

/** An attempt nobody stops; `checkpoint` may simulate a crash between items. */
function attempt(checkpoint: () => Promise<void> = async () => {}): AttemptControl {
  return { signal: new AbortController().signal, draining: new AbortController().signal, checkpoint, onHeartbeat: () => () => {}, whileWaiting: (work) => work() };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('freight-pod-download in real Chromium against the sandbox portal', () => {
  it('downloads 18 PODs on 4 pages of one session, fails the 2 unknown invoices as business errors with evidence, and writes the manifest', async () => {
    const { deps, items, files, job, jobs } = harness();
    const started = performance.now();

    const result = await runRobotJob(job, deps, attempt());
    const ms = performance.now() - started;

    expect(result.status).toBe('PARTIAL');
    const { items: all } = await items.list(job.jobId, { limit: 100 });
    expect(all.map((item) => item.key)).toEqual([...KNOWN.slice(0, 9), UNKNOWN[0], ...KNOWN.slice(9), UNKNOWN[1]]);
    for (const item of all.filter((item) => KNOWN.includes(item.key))) {
      expect(item).toMatchObject({ status: 'SUCCEEDED', attempts: 1, artifact: { name: `POD-${item.key}.pdf`, contentType: 'application/pdf' } });
      const pdf = files.objects.get(item.artifact!.key)!.body;
      expect(item.artifact!.key).toBe(`jobs/${job.jobId}/items/${item.key}/POD-${item.key}.pdf`);
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      expect(pdf.toString('latin1')).toContain(`Invoice ${item.key}`);
      expect(item.artifact!.sha256).toBe(sha256(pdf));
    }
    for (const key of UNKNOWN) {
      const item = all.find((candidate) => candidate.key === key)!;
      expect(item).toMatchObject({ status: 'FAILED', error: { type: 'BUSINESS', code: 'UNKNOWN_INVOICE' } });
      // Not retried (a business error), so not traced: screenshot and page as it failed.
      expect(item.evidence?.map((file) => file.name)).toEqual(['screenshot.png', 'page.html']);
      expect(files.text(`jobs/${job.jobId}/items/${key}/evidence/attempt-1/page.html`)).toContain(`Invoice ${key} not found`);
    }

    const manifest = JSON.parse(files.text(`jobs/${job.jobId}/manifest.json`));
    expect(manifest).toMatchObject({ succeeded: 18, failed: 2 });
    expect(manifest.invoices).toHaveLength(20);
    expect(manifest.invoices.find((row: { invoice: string }) => row.invoice === KNOWN[3])).toEqual({
      invoice: KNOWN[3],
      status: 'SUCCEEDED',
      artifact: `POD-${KNOWN[3]}.pdf`,
      sha256: all.find((item) => item.key === KNOWN[3])!.artifact!.sha256,
      error: '',
    });
    const csv = files.text(`jobs/${job.jobId}/manifest.csv`).trim().split('\r\n');
    expect(csv[0]).toBe('invoice,status,artifact,sha256,error');
    expect(csv).toHaveLength(21);
    expect(csv.find((line) => line.startsWith(UNKNOWN[0]!))).toMatch(/^404123,FAILED,,,UNKNOWN_INVOICE: /);
    expect((await jobs.get(job.jobId))!.artifacts.map((artifact) => artifact.name)).toEqual(['manifest.json', 'manifest.csv']);

    expect(portal.stats()).toMatchObject({ logins: 1, totalDownloads: 18 });
    console.info(`freight-pod-download: 20 invoices in ${Math.round(ms)} ms (${Math.round((20 / ms) * 60_000)} items/min)`);
  });

  it('signs in again when the portal ends the session mid-job, and still downloads everything', async () => {
    expiringPortal.reset();
    // Two pages: a session of 5 requests then serves both pages' search and download after each login.
    const { deps, items, job } = harness(KNOWN.slice(0, 8), expiringPortal, { pages: 2 });

    const result = await runRobotJob(job, deps, attempt());

    expect(result.status).toBe('SUCCEEDED');
    const { items: all } = await items.list(job.jobId, { limit: 100 });
    expect(all.every((item) => item.status === 'SUCCEEDED' && item.attempts === 1)).toBe(true);
    expect(expiringPortal.stats().logins).toBeGreaterThanOrEqual(3);
    expect(expiringPortal.stats().totalDownloads).toBe(8);
  });

  it('rides out a portal answering every 7th request with 503 (Retry-After: 1) on 4 pages: every POD once, no item failed', async () => {
    portal.setFaults({ errorEvery: 7 });
    const invoices = KNOWN.slice(0, 16);
    const { deps, items, job } = harness(invoices);
    const started = performance.now();

    const result = await runRobotJob(job, deps, attempt());
    const ms = performance.now() - started;

    const { items: all } = await items.list(job.jobId, { limit: 100 });
    const stats = portal.stats();
    const downloads = invoices.map((invoice) => stats.downloads[invoice] ?? 0);
    console.info(
      `flaky portal (every 7th request 503): ${invoices.length} items in ${Math.round(ms)} ms; succeeded=${all.filter((item) => item.status === 'SUCCEEDED').length} ` +
        `failed=${all.filter((item) => item.status === 'FAILED').length} logins=${stats.logins} searches=${stats.searches} downloads=${stats.totalDownloads} duplicated=${downloads.filter((count) => count > 1).length}`,
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(all.every((item) => item.status === 'SUCCEEDED' && item.attempts === 1)).toBe(true);
    expect(downloads).toEqual(Array(invoices.length).fill(1));
    // More searches than invoices: some were answered 503 and tried again.
    expect(stats.searches).toBeGreaterThanOrEqual(invoices.length);
  });

  it('resumes after a crash without downloading any invoice twice', async () => {
    const { deps, items, files, job } = harness(KNOWN.slice(0, 10));
    let itemsStarted = 0;
    const crashAfterFour = attempt(async () => {
      if (++itemsStarted > 4) throw new Error('worker killed');
    });

    await expect(runRobotJob(job, deps, crashAfterFour)).rejects.toThrow('worker killed');
    expect((await items.list(job.jobId, { limit: 100, status: 'SUCCEEDED' })).items).toHaveLength(4);

    const result = await runRobotJob(job, deps, attempt());

    expect(result.status).toBe('SUCCEEDED');
    expect(Object.values(portal.stats().downloads)).toEqual(Array(10).fill(1));
    expect([...files.puts.entries()].filter(([key]) => key.endsWith('.pdf')).every(([, puts]) => puts === 1)).toBe(true);
  });

  it('fails the attempt with a business error when the secret is outside the robot prefix', async () => {
    const { deps, job } = harness(KNOWN.slice(0, 2));
    job.input = { ...job.input, credentialsSecret: 'roboport/test/other/db-password' };

    await expect(runRobotJob(job, deps, attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'SECRET_NOT_ALLOWED' });
    expect(portal.stats().logins).toBe(0);
  });

  it.each([
    ['a look-alike login page on another allowed host', () => ({ portalUrl: phishing.url })],
    ['the bound host’s login redirecting to another host', () => ({ portalUrl: redirector.url, boundHost: new URL(redirector.url).host })],
  ])('never types the password into %s', async (_case, options) => {
    phishing.requests.length = 0;
    const { deps, job } = harness(KNOWN.slice(0, 2), portal, options());
    await expect(runRobotJob(job, deps, attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'CREDENTIALS_HOST_MISMATCH' });

    console.log(`phishing (${_case}): requests=${phishing.requests.length} passwordSent=${phishing.requests.filter((body) => body.includes(CREDENTIALS.password)).length}`);
    expect(phishing.requests.length).toBeGreaterThan(0); // the page was reached...
    expect(phishing.requests.some((body) => body.includes(CREDENTIALS.password))).toBe(false); // ...and never got the password
    expect(portal.stats().logins).toBe(0);
  });
});
