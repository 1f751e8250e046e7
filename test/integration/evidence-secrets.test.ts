import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerBrowser, type JobSession, type JobSessions } from '../../runtime/browser';
import { redactEvidence } from '../../runtime/evidence-redaction';
import type { AttemptControl, RuntimeDeps } from '../../runtime/robot-runtime';
import { PORTAL_ADMIN_HEADER, startFreightPortal, type FreightPortal } from '../../sandbox/freight-portal';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { catalogOf, MemoryArtifactStore, MemoryPortalLeases, MemorySecrets, recordedPauses, recordingLogger, type LogLine } from '../support/robot-runtime-fakes';
import { technicalError, type ItemRobot } from '../../core/robot';
import { needlesFor, occurrences, scanFiles } from '../support/secret-scan';

/**
 * Failed items' evidence in real Chromium against the sandbox freight portal, with a password
 * full of characters that every encoding changes: the stored screenshots, pages and traces (and
 * every other artifact of the job) must hold neither the password in any encoding nor any of the
 * portal's session cookies, including sessions that ended during an item.
 */
const USERNAME = 'pod-robot';
const PASSWORD = 'p@ss w0rd&"<>+%é';
const ADMIN_TOKEN = 'evidence-test-admin';
const CREDENTIALS_REF = 'shared/freight-portal';
const SECRET_NAME = 'roboport/test/robots/shared/freight-portal';
/** 5 unknown invoices (failed items with evidence) around 2 known ones. */
const INVOICES = ['404100', '500100', '404200', '404300', '500107', '404400', '404500'];
/** Before these items every portal session is ended: each begins with a re-login. */
const SESSIONS_END_BEFORE = new Set(['404200', '404400']);

let portal: FreightPortal;
let runRobotJob: typeof import('../../runtime/robot-runtime').runRobotJob;
let robotCatalog: typeof import('../../robots').robotCatalog;
const browser = new WorkerBrowser({ executablePath: process.env.CHROMIUM_PATH, closeTimeoutMs: 5_000 });

beforeAll(async () => {
  portal = await startFreightPortal({ username: USERNAME, password: PASSWORD, adminToken: ADMIN_TOKEN });
  // Robots read the egress allowlist when their module loads.
  process.env.EGRESS_ALLOW_HOSTS = new URL(portal.url).host;
  ({ runRobotJob } = await import('../../runtime/robot-runtime'));
  ({ robotCatalog } = await import('../../robots'));
});

afterAll(async () => {
  await browser.close();
  await portal?.close();
});

/** The real sessions, keeping a copy of each trace as Playwright wrote it (before redaction). */
function recordingSessions(sessions: JobSessions, rawTraces: Uint8Array[]): JobSessions {
  return {
    async open(policy, options) {
      const session = await sessions.open(policy, options);
      const recording: JobSession = {
        ...session,
        async stopItemTrace(keep) {
          const zip = await session.stopItemTrace(keep);
          if (zip) rawTraces.push(Uint8Array.from(zip));
          return zip;
        },
      };
      return recording;
    },
  };
}

/**
 * The freight robot, whose unknown invoices fail technically on their first try: only retried
 * tries are traced, so each failed item's evidence then carries the trace of its second try.
 */
function tracedOnFailure(): ItemRobot<unknown> {
  const freight = robotCatalog.find('freight-pod-download') as ItemRobot<unknown>;
  const tried = new Set<string>();
  return {
    ...freight,
    async processItem(context, item, input) {
      if (item.key.startsWith('404') && !tried.has(item.key)) {
        tried.add(item.key);
        throw technicalError('FIRST_TRY_FAILS', 'the first try of an unknown invoice fails, so that its retry is traced');
      }
      return freight.processItem(context, item, input);
    },
  };
}

/** Ends every portal session through the admin hook, as a portal timing out sessions would. */
async function endPortalSessions(): Promise<void> {
  const response = await fetch(new URL('/__admin/reset', portal.url), { method: 'POST', headers: { [PORTAL_ADMIN_HEADER]: ADMIN_TOKEN } });
  expect(response.status).toBe(200);
}

/** Every entry of a zip, by name. */
async function unzip(body: Uint8Array): Promise<Map<string, Uint8Array>> {
  const zip = await JSZip.loadAsync(body);
  const entries = new Map<string, Uint8Array>();
  for (const file of Object.values(zip.files)) if (!file.dir) entries.set(file.name, await file.async('uint8array'));
  return entries;
}

const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('utf8');

describe('evidence of failed items holds no secret', () => {
  it('stores screenshots, pages and loadable traces without the password or any session cookie', async () => {
    const files = new MemoryArtifactStore();
    const items = new MemoryItemStore();
    const jobs = new MemoryJobStore();
    const lines: LogLine[] = [];
    const rawTraces: Uint8Array[] = [];
    const job = makeJob({ robot: 'freight-pod-download', status: 'RUNNING', input: { portalUrl: portal.url, credentialsSecret: CREDENTIALS_REF, invoices: INVOICES } });
    await jobs.create(job);
    const deps: RuntimeDeps = {
      s3: files.client,
      artifactsBucket: 'artifacts',
      store: jobs,
      items,
      leases: new MemoryPortalLeases(),
      secrets: new MemorySecrets({ [SECRET_NAME]: { value: JSON.stringify({ username: USERNAME, password: PASSWORD }), hosts: [new URL(portal.url).host] } }),
      secretsPrefix: 'roboport/test/robots/',
      portalSessions: { default: 2, byHost: {} },
      leaseTtlSeconds: 30,
      leaseWaitMs: 10_000,
      robots: catalogOf(tracedOnFailure()),
      sessions: recordingSessions(browser, rawTraces),
      egressAllowHosts: [new URL(portal.url).host],
      log: recordingLogger(lines),
      // One page: the checkpoint before each item ends the sessions before the items named above.
      maxPagesPerSession: 1,
      pause: recordedPauses().pause,
    };
    let next = 0;
    const attempt: AttemptControl = {
      signal: new AbortController().signal,
      draining: new AbortController().signal,
      checkpoint: async () => {
        if (SESSIONS_END_BEFORE.has(INVOICES[next++]!)) await endPortalSessions();
      },
      onHeartbeat: () => () => {},
      whileWaiting: (work) => work(),
    };
    portal.reset();
    const started = performance.now();

    const result = await runRobotJob(job, deps, attempt);
    const jobMs = performance.now() - started;

    expect(result.status).toBe('PARTIAL');
    const failed = (await items.list(job.jobId, { limit: 100, status: 'FAILED' })).items;
    expect(failed.map((item) => item.key)).toEqual(['404100', '404200', '404300', '404400', '404500']);
    for (const item of failed) expect(item.evidence?.map((file) => file.name)).toEqual(['screenshot.png', 'page.html', 'trace.zip']);
    // The reset zeroes the stats too: what is left is the login inside 404400.
    expect(portal.stats().logins).toBe(1);

    // The secrets to look for: the password, the secret as read, and every session the portal
    // issued (taken from the traces as Playwright wrote them: cookies of ended sessions included).
    const rawEntries = (await Promise.all(rawTraces.map(unzip))).flatMap((entries) => [...entries.values()]);
    const sessionCookies = [...new Set(rawEntries.flatMap((entry) => [...text(entry).matchAll(/portal_session=([A-Za-z0-9_-]+)/g)].map((match) => match[1]!)))];
    expect(sessionCookies).toHaveLength(1 + SESSIONS_END_BEFORE.size);
    const needles = needlesFor(
      {
        password: PASSWORD,
        secret: JSON.stringify({ username: USERNAME, password: PASSWORD }),
        ...Object.fromEntries(sessionCookies.map((cookie, index) => [`session cookie ${index + 1}`, cookie])),
      },
      USERNAME,
    );
    const before = rawEntries.reduce((sum, entry) => sum + needles.reduce((count, needle) => count + occurrences(entry, needle.bytes), 0), 0);

    const stored = [...files.objects].map(([key, object]): [string, Uint8Array] => [key, object.body]);
    const scan = await scanFiles(stored, needles);

    console.info(`evidence scan: artifacts=${scan.files} entries=${scan.entries} bytes=${scan.bytes} leaks=${scan.leaks.length}`);
    console.info(`  before redaction: ${before} occurrences in ${rawTraces.length} raw traces; ${needles.length} needles (${sessionCookies.length} session cookies)`);
    expect(before).toBeGreaterThan(0);
    expect(scan.leaks).toEqual([]);
    expect(scan.files).toBe(2 + 2 + failed.length * 3);

    // The traces stay loadable and useful: JSON lines, the failing page, the re-login inside the item.
    for (const item of failed) {
      const entries = await unzip(files.objects.get(`jobs/${job.jobId}/items/${item.key}/evidence/attempt-1/trace.zip`)!.body);
      const traceLines = text(entries.get('trace.trace')).split('\n').filter(Boolean);
      const networkLines = text(entries.get('trace.network')).split('\n').filter(Boolean);
      expect(traceLines.length).toBeGreaterThan(0);
      for (const line of [...traceLines, ...networkLines]) expect(() => JSON.parse(line)).not.toThrow();
      expect(text(entries.get('trace.trace'))).toContain(`invoice=${item.key}`);
      // The trace covers the item's retried try; a re-login inside it comes after its first search.
      const requests = networkLines.map((line) => JSON.parse(line).snapshot?.request).map((request) => `${request?.method} ${new URL(request?.url).pathname}${new URL(request?.url).search}`);
      const reLogins = requests.slice(requests.indexOf(`GET /search?invoice=${item.key}`)).filter((request) => request === 'POST /login');
      expect(reLogins).toHaveLength(SESSIONS_END_BEFORE.has(item.key) ? 1 : 0);
      expect(files.text(`jobs/${job.jobId}/items/${item.key}/evidence/attempt-1/page.html`)).toContain(`Invoice ${item.key} not found`);
    }

    const redactions = lines.filter((line) => line.event === 'evidence.redacted').map((line) => line.fields as { ms: number; bytesIn: number; bytesOut: number; replaced: number });
    expect(redactions).toHaveLength(failed.length);
    const ms = redactions.map((redaction) => redaction.ms);
    console.info(
      `  redaction per failed item: ${ms.join(', ')} ms (mean ${Math.round(ms.reduce((sum, value) => sum + value, 0) / ms.length)}) ` +
        `(evidence ${Math.round(redactions.reduce((sum, r) => sum + r.bytesIn, 0) / redactions.length / 1024)} KiB in, ` +
        `${Math.round(redactions.reduce((sum, r) => sum + r.bytesOut, 0) / redactions.length / 1024)} KiB out, ` +
        `${redactions.reduce((sum, r) => sum + r.replaced, 0)} values replaced); job ${Math.round(jobMs)} ms for ${INVOICES.length} items`,
    );
    // The same work again on the raw traces, away from the browser: what redaction alone costs.
    const alone: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (const raw of rawTraces) {
        const start = performance.now();
        await redactEvidence([{ name: 'trace.zip', contentType: 'application/zip', body: raw }], { secrets: [PASSWORD], cookieValues: sessionCookies });
        alone.push(performance.now() - start);
      }
    }
    alone.sort((a, b) => a - b);
    console.info(`  redaction alone, ${alone.length} runs over the ${rawTraces.length} raw traces: median ${alone[alone.length >> 1]!.toFixed(1)} ms, p90 ${alone[Math.floor(alone.length * 0.9)]!.toFixed(1)} ms`);
  });
});
