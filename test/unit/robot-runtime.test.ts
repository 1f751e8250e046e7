import JSZip from 'jszip';
import type { Page } from 'playwright-core';
import * as z from 'zod';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobItem } from '../../core/items';
import type { Job } from '../../core/job';
import { createLogger } from '../../core/logger';
import { businessError, technicalError, type ItemRobot, type JobSummary, type RobotContext, type RobotDefinition } from '../../core/robot';
import type { JobSessions } from '../../runtime/browser';
import { runRobotJob, type AttemptControl, type RuntimeDeps } from '../../runtime/robot-runtime';
import { MemoryItemStore, makeItem } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { fakeRuntimeDeps, MemoryArtifactStore, MemoryPortalLeases, MemorySecrets } from '../support/robot-runtime-fakes';

const SECRET = 'roboport/test/robots/shared/portal';
const PASSWORD = 'very-secret-Passw0rd';
const PORTAL = 'https://portal.example.com/';

/** A robot over `keys` whose items do what `outcomes` says (default: a small file). */
function itemRobot(outcomes: Record<string, () => Promise<unknown>> = {}, options: { portal?: boolean } = {}) {
  const calls = { login: 0, processed: [] as string[], summary: undefined as JobSummary | undefined };
  const robot: ItemRobot<{ keys: string[] }> = {
    name: 'items-robot',
    version: '1',
    description: 'test',
    input: z.strictObject({ keys: z.array(z.string()) }),
    itemsField: 'keys',
    ...(options.portal ? { portalUrl: () => PORTAL } : {}),
    items: ({ keys }) => keys.map((key) => ({ key })),
    login: async () => void calls.login++,
    async processItem(_context, { key }) {
      calls.processed.push(key);
      await outcomes[key]?.();
      return { file: { name: `${key}.txt`, contentType: 'text/plain', body: Buffer.from(`file of ${key}`) } };
    },
    finish: async (_context, summary) => void (calls.summary = summary),
  };
  return { robot, calls };
}

let jobs: MemoryJobStore;
let items: MemoryItemStore;
let files: MemoryArtifactStore;
let leases: MemoryPortalLeases;
let job: Job;
let sessionsOpened: number;
let sessionsClosed: number;

function depsFor(robot: RobotDefinition, overrides: Partial<RuntimeDeps> = {}): RuntimeDeps {
  const sessions: JobSessions = {
    open: async () => {
      sessionsOpened++;
      let tracing = false;
      return {
        page: { screenshot: async () => Buffer.from('png'), content: async () => '<html>failed page</html>' } as unknown as Page,
        startItemTrace: async () => void (tracing = true),
        stopItemTrace: async (keep) => {
          tracing = false;
          return keep ? emptyTrace() : undefined;
        },
        cookieValues: async () => [],
        close: async () => void (sessionsClosed += tracing ? 0 : 1),
      };
    },
  };
  return fakeRuntimeDeps(robot, {
    s3: files.client,
    store: jobs,
    items,
    leases,
    secrets: new MemorySecrets({ [SECRET]: JSON.stringify({ username: 'pod-robot-user', password: PASSWORD }) }),
    secretsPrefix: 'roboport/test/robots/',
    leaseWaitMs: 5_000,
    sessions,
    log: createLogger({ test: 'robot-runtime' }),
    ...overrides,
  });
}

/** A trace zip as Playwright writes one, with nothing in it. */
const emptyTrace = () => new JSZip().file('trace.trace', '{"type":"context-options"}\n').generateAsync({ type: 'uint8array' });

function attempt(overrides: Partial<AttemptControl> = {}): AttemptControl {
  return { signal: new AbortController().signal, draining: new AbortController().signal, checkpoint: async () => {}, onHeartbeat: () => () => {}, whileWaiting: (work) => work(), ...overrides };
}

const itemsOf = async () => (await items.list(job.jobId, { limit: 100 })).items;
const byKey = async (key: string) => (await itemsOf()).find((item) => item.key === key);
const seeded = (overrides: Partial<JobItem> & Pick<JobItem, 'key'>) => makeItem({ jobId: job.jobId, ...overrides });

beforeEach(() => {
  jobs = new MemoryJobStore();
  items = new MemoryItemStore();
  files = new MemoryArtifactStore();
  leases = new MemoryPortalLeases();
  sessionsOpened = 0;
  sessionsClosed = 0;
  job = makeJob({ robot: 'items-robot', status: 'RUNNING', input: { keys: ['a', 'b', 'c'] } });
  void jobs.create(job);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('robot runtime: item robots', () => {
  it('processes every item in order, stores each file under a key of its own and checkpoints it', async () => {
    const { robot, calls } = itemRobot();

    const result = await runRobotJob(job, depsFor(robot), attempt());

    expect(result).toEqual({ status: 'SUCCEEDED', artifactCount: 3 });
    expect(calls).toMatchObject({ login: 1, processed: ['a', 'b', 'c'] });
    expect(await byKey('b')).toMatchObject({
      status: 'SUCCEEDED',
      attempts: 1,
      artifact: { name: 'b.txt', key: `jobs/${job.jobId}/items/b/b.txt`, size: 9 },
    });
    expect(files.text(`jobs/${job.jobId}/items/b/b.txt`)).toBe('file of b');
    expect(calls.summary).toMatchObject({ succeeded: 3, failed: 0 });
    expect(calls.summary!.items.map((item) => item.key)).toEqual(['a', 'b', 'c']);
    expect(sessionsClosed).toBe(1);
  });

  it('resumes: skips succeeded and business-failed items, redoes technically failed and pending ones', async () => {
    job.input = { keys: ['a', 'b', 'c', 'd'] };
    items.seed(
      seeded({ key: 'a', position: 0, status: 'SUCCEEDED', attempts: 1 }),
      seeded({ key: 'b', position: 1, status: 'FAILED', attempts: 1, error: { type: 'BUSINESS', code: 'UNKNOWN', message: 'x' } }),
      seeded({ key: 'c', position: 2, status: 'FAILED', attempts: 1, error: { type: 'TECHNICAL', code: 'TIMEOUT', message: 'x' } }),
      seeded({ key: 'd', position: 3, status: 'PENDING', attempts: 1 }),
    );
    const { robot, calls } = itemRobot();

    const result = await runRobotJob(job, depsFor(robot), attempt());

    expect(calls.processed).toEqual(['c', 'd']);
    expect(result.status).toBe('PARTIAL');
    expect(await byKey('c')).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    expect((await byKey('c'))?.error).toBeUndefined();
    expect(files.puts.has(`jobs/${job.jobId}/items/a/a.txt`)).toBe(false);
  });

  it('does not sign in or open a browser when every item is already settled, but still finishes', async () => {
    items.seed(...['a', 'b', 'c'].map((key, position) => seeded({ key, position, status: 'SUCCEEDED', attempts: 1 })));
    const { robot, calls } = itemRobot();

    const result = await runRobotJob(job, depsFor(robot), attempt());

    expect(result.status).toBe('SUCCEEDED');
    expect(calls.login).toBe(0);
    expect(sessionsOpened).toBe(0);
    expect(calls.summary?.succeeded).toBe(3);
  });

  it('fails one item on a business error with screenshot, HTML and trace as evidence, and goes on (PARTIAL)', async () => {
    const { robot, calls } = itemRobot({ b: () => Promise.reject(businessError('UNKNOWN_INVOICE', 'The portal does not know b')) });

    const result = await runRobotJob(job, depsFor(robot), attempt());

    expect(result.status).toBe('PARTIAL');
    expect(calls.processed).toEqual(['a', 'b', 'c']);
    const failed = await byKey('b');
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 1, error: { type: 'BUSINESS', code: 'UNKNOWN_INVOICE' } });
    expect(failed?.evidence?.map((file) => file.key)).toEqual(
      ['screenshot.png', 'page.html', 'trace.zip'].map((name) => `jobs/${job.jobId}/items/b/evidence/attempt-1/${name}`),
    );
    expect(files.text(`jobs/${job.jobId}/items/b/evidence/attempt-1/page.html`)).toBe('<html>failed page</html>');
  });

  it('fails the job with a business error when every item failed on its data', async () => {
    const unknown = () => Promise.reject(businessError('UNKNOWN_INVOICE', 'unknown'));
    const { robot, calls } = itemRobot({ a: unknown, b: unknown, c: unknown });

    await expect(runRobotJob(job, depsFor(robot), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'ALL_ITEMS_FAILED' });
    expect(calls.summary?.failed).toBe(3);
  });

  it('retries a technical error once, then fails the attempt; items done stay done, the rest stays pending', async () => {
    const { robot, calls } = itemRobot({ b: () => Promise.reject(technicalError('PORTAL_UNAVAILABLE', '503')) });

    await expect(runRobotJob(job, depsFor(robot), attempt())).rejects.toMatchObject({ type: 'TECHNICAL', code: 'PORTAL_UNAVAILABLE' });

    expect(calls.processed).toEqual(['a', 'b', 'b']);
    expect(await byKey('a')).toMatchObject({ status: 'SUCCEEDED' });
    expect(await byKey('b')).toMatchObject({ status: 'FAILED', attempts: 2, error: { type: 'TECHNICAL' } });
    expect((await byKey('b'))?.evidence).toHaveLength(3);
    expect(await byKey('c')).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(calls.summary).toBeUndefined();

    // The workflow's next attempt takes up from there.
    const { robot: healed, calls: next } = itemRobot();
    await expect(runRobotJob(job, depsFor(healed), attempt())).resolves.toMatchObject({ status: 'SUCCEEDED' });
    expect(next.processed).toEqual(['b', 'c']);
  });

  it('stops between items when a checkpoint ends the attempt, leaving the next items pending', async () => {
    let checkpoints = 0;
    const { robot, calls } = itemRobot();
    const cancelledAfterOne = attempt({
      checkpoint: async () => {
        if (++checkpoints === 2) throw new Error('cancelled');
      },
    });

    await expect(runRobotJob(job, depsFor(robot), cancelledAfterOne)).rejects.toThrow('cancelled');

    expect(calls.processed).toEqual(['a']);
    expect((await itemsOf()).map((item) => item.status)).toEqual(['SUCCEEDED', 'PENDING', 'PENDING']);
    expect(sessionsClosed).toBe(1);
  });

  it('refuses item keys that are not safe file names', async () => {
    job.input = { keys: ['a', '../etc'] };
    const { robot } = itemRobot();

    await expect(runRobotJob(job, depsFor(robot), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'INPUT_INVALID' });
    expect(await itemsOf()).toEqual([]);
  });
});

describe('robot runtime: chunks and the finish step', () => {
  beforeEach(() => {
    job = makeJob({ robot: 'items-robot', status: 'RUNNING', input: { keys: ['a', 'b', 'c', 'd', 'e'] } });
    void jobs.create(job);
  });

  it('runs only the chunk’s items, in one session with its own portal slot, and writes no manifest', async () => {
    await items.ensureItems(job.jobId, ['a', 'b', 'c', 'd', 'e'], new Date().toISOString());
    const { robot, calls } = itemRobot({}, { portal: true });
    const acquire = vi.spyOn(leases, 'tryAcquire');

    const result = await runRobotJob(job, depsFor(robot), attempt(), { kind: 'chunk', chunk: { index: 1, size: 2 } });

    expect(result.status).toBe('SUCCEEDED');
    expect(calls.processed).toEqual(['c', 'd']);
    expect(calls.login).toBe(1);
    expect(calls.summary).toBeUndefined();
    // Per chunk: two chunks of one job hold two of the portal's slots, like two jobs would.
    expect(acquire.mock.calls.map(([, holder]) => holder)).toEqual([`${job.jobId}#1`]);
    expect((await items.list(job.jobId, { limit: 10 })).items.map((item) => item.status)).toEqual(['PENDING', 'PENDING', 'SUCCEEDED', 'SUCCEEDED', 'PENDING']);
  });

  it('skips a chunk’s settled items when it is delivered again, and writes the items if PlanJob did not', async () => {
    const { robot, calls } = itemRobot();
    await runRobotJob(job, depsFor(robot), attempt(), { kind: 'chunk', chunk: { index: 2, size: 2 } });
    expect(calls.processed).toEqual(['e']);
    expect(items.items.size).toBe(5);
    await runRobotJob(job, depsFor(robot), attempt(), { kind: 'chunk', chunk: { index: 2, size: 2 } });
    expect(calls.processed).toEqual(['e']);
  });

  it('finishes from every item: the manifest once, PARTIAL when a chunk left items unfinished', async () => {
    items.seed(
      ...['a', 'b', 'c'].map((key, position) => makeItem({ jobId: job.jobId, key, position, status: 'SUCCEEDED' })),
      ...['d', 'e'].map((key, position) => makeItem({ jobId: job.jobId, key, position: position + 3, status: 'PENDING' })),
    );
    const { robot, calls } = itemRobot();

    const result = await runRobotJob(job, depsFor(robot), attempt(), { kind: 'finish' });

    expect(result.status).toBe('PARTIAL');
    expect(calls.processed).toEqual([]);
    expect(sessionsOpened).toBe(0);
    expect(calls.summary?.items.map((item) => item.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'PENDING', 'PENDING']);
  });

  it('fails the finish with ALL_ITEMS_FAILED when nothing succeeded', async () => {
    items.seed(...['a', 'b', 'c', 'd', 'e'].map((key, position) => makeItem({ jobId: job.jobId, key, position, status: 'PENDING' })));
    const { robot } = itemRobot();
    await expect(runRobotJob(job, depsFor(robot), attempt(), { kind: 'finish' })).rejects.toMatchObject({ type: 'BUSINESS', code: 'ALL_ITEMS_FAILED' });
  });
});

describe('robot runtime: portal session slots', () => {
  it('waits while every slot of the portal is held, then takes the freed one and releases it at the end', async () => {
    const host = new URL(PORTAL).host;
    const now = Math.floor(Date.now() / 1000);
    await leases.tryAcquire(host, 'other-job-1', 2, 60, now);
    const second = await leases.tryAcquire(host, 'other-job-2', 2, 60, now);
    const { robot, calls } = itemRobot({}, { portal: true });
    const heartbeats: Array<() => Promise<void>> = [];

    const running = runRobotJob(job, depsFor(robot), attempt({ onHeartbeat: (task) => (heartbeats.push(task), () => {}) }));
    await vi.waitFor(() => expect(items.items.size).toBe(3));
    expect(calls.login).toBe(0);
    await leases.release(second!);

    await expect(running).resolves.toMatchObject({ status: 'SUCCEEDED' });
    expect(calls.login).toBe(1);
    expect(heartbeats).toHaveLength(1);
    expect(leases.holders(host)).toEqual(['other-job-1']);
  });

  it('renews its slot with the heartbeat', async () => {
    const heartbeats: Array<() => Promise<void>> = [];
    const { robot } = itemRobot({ a: async () => Promise.all(heartbeats.map((beat) => beat())) }, { portal: true });

    await runRobotJob(job, depsFor(robot), attempt({ onHeartbeat: (task) => (heartbeats.push(task), () => {}) }));

    expect(leases.renewals).toBe(1);
  });

  it('gives up with a technical PORTAL_BUSY error when no slot frees up in time', async () => {
    const now = Math.floor(Date.now() / 1000);
    await leases.tryAcquire(new URL(PORTAL).host, 'other-job', 1, 60, now);
    const { robot, calls } = itemRobot({}, { portal: true });

    await expect(runRobotJob(job, depsFor(robot, { portalSessions: { default: 1, byHost: {} }, leaseWaitMs: 0 }), attempt())).rejects.toMatchObject({
      type: 'TECHNICAL',
      code: 'PORTAL_BUSY',
    });
    expect(calls.login).toBe(0);
  });

  it("holds a portal with its own cap to that cap, not to the stage's default", async () => {
    const host = new URL(PORTAL).host;
    const now = Math.floor(Date.now() / 1000);
    await leases.tryAcquire(host, 'other-job', 1, 60, now);
    const { robot } = itemRobot({}, { portal: true });

    // The default would leave a second slot; the portal's own cap of 1 is taken.
    await expect(
      runRobotJob(job, depsFor(robot, { portalSessions: { default: 2, byHost: { [host]: 1 } }, leaseWaitMs: 0 }), attempt()),
    ).rejects.toMatchObject({ code: 'PORTAL_BUSY' });
    // Another host's cap leaves this one at the default: the second slot is free.
    await runRobotJob(job, depsFor(robot, { portalSessions: { default: 2, byHost: { 'other.example.com': 1 } }, leaseWaitMs: 0 }), attempt());
    expect(leases.holders(host)).toEqual(['other-job']);
  });
});

describe('robot runtime: secrets', () => {
  const secretRobot = (login: (context: RobotContext) => Promise<void>): RobotDefinition => ({ ...itemRobot().robot, login });

  it('hands robots the username of credentials under the prefix and masks the other values in every log line', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((line) => (lines.push(String(line)), true));
    const robot = secretRobot(async ({ credentials, log }) => {
      const { username } = await credentials(SECRET);
      // The robot never holds the password; a page may still echo it into something the robot logs.
      log.info('signing in', { as: `${username} with ${PASSWORD}`, secretValue: 'any' });
    });

    await runRobotJob(job, depsFor(robot), attempt());

    const signingIn = lines.find((line) => line.includes('signing in'));
    // The user name identifies, the password proves: only the latter is masked.
    expect(signingIn).toContain('pod-robot-user with ***');
    expect(signingIn).toContain('"secretValue":"***"');
    expect(lines.join('')).not.toContain(PASSWORD);
  });

  it('refuses secrets outside the prefix without reading them', async () => {
    const secrets = new MemorySecrets({ 'roboport/test/db/master': 'db-password' });
    const robot = secretRobot(async ({ credentials }) => void (await credentials('roboport/test/db/master')));

    await expect(runRobotJob(job, depsFor(robot, { secrets }), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'SECRET_NOT_ALLOWED' });
    await expect(runRobotJob(job, depsFor(robot, { secrets, secretsPrefix: undefined }), attempt())).rejects.toMatchObject({ code: 'SECRET_NOT_ALLOWED' });
    expect(secrets.reads).toEqual([]);
  });

  it("reads the owner's own secrets and shared ones, never another tenant's", async () => {
    const secrets = new MemorySecrets({
      [`roboport/test/robots/${job.owner}/portal`]: JSON.stringify({ username: 'me', password: 'mine' }),
      'roboport/test/robots/someone-else/portal': JSON.stringify({ username: 'them', password: 'theirs' }),
    });
    const readOwn = secretRobot(async ({ credentials }) => void (await credentials('portal')));
    const readOthers = secretRobot(async ({ credentials }) => void (await credentials('roboport/test/robots/someone-else/portal')));

    await runRobotJob(job, depsFor(readOwn, { secrets }), attempt());
    const laterJob = { ...job, jobId: '00000000-0000-4000-8000-0000000000ff' };
    await expect(runRobotJob(laterJob, depsFor(readOthers, { secrets }), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'SECRET_NOT_ALLOWED' });
    expect(secrets.reads).toEqual([`roboport/test/robots/${job.owner}/portal`]);
  });

  it('reports a missing secret as a business error', async () => {
    const robot = secretRobot(async ({ credentials }) => void (await credentials('shared/nope')));

    await expect(runRobotJob(job, depsFor(robot), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'SECRET_NOT_FOUND' });
  });
});
