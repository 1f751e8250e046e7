import JSZip from 'jszip';
import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobItem } from '../../core/items';
import type { Job } from '../../core/job';
import { createLogger } from '../../core/logger';
import { businessError, sessionEnded, technicalError, type ItemRobot, type JobSummary, type RobotContext, type RobotDefinition } from '../../core/robot';
import { ITEM_RETRY } from '../../core/page-retry';
import { retryInput } from '../../core/items-service';
import { runRobotJob, type AttemptControl, type RuntimeDeps } from '../../runtime/robot-runtime';
import { MemoryItemStore, makeItem } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { FakeSessions, fakeRuntimeDeps, keysRobot, MemoryArtifactStore, MemoryPortalLeases, MemorySecrets, recordedPauses, type FakePage } from '../support/robot-runtime-fakes';

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
let sessions: FakeSessions;
let pauses: ReturnType<typeof recordedPauses>;

function depsFor(robot: RobotDefinition, overrides: Partial<RuntimeDeps> = {}): RuntimeDeps {
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
    pause: pauses.pause,
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
  sessions = new FakeSessions({ trace: emptyTrace });
  pauses = recordedPauses();
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
    expect(sessions.closed).toBe(1);
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
    expect(sessions.opened).toBe(0);
    expect(calls.summary?.succeeded).toBe(3);
  });

  it('fails one item on a business error with screenshot and HTML as evidence (no trace: it was not retried), and goes on (PARTIAL)', async () => {
    const { robot, calls } = itemRobot({ b: () => Promise.reject(businessError('UNKNOWN_INVOICE', 'The portal does not know b')) });

    const result = await runRobotJob(job, depsFor(robot), attempt());

    expect(result.status).toBe('PARTIAL');
    expect(calls.processed).toEqual(['a', 'b', 'c']);
    const failed = await byKey('b');
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 1, error: { type: 'BUSINESS', code: 'UNKNOWN_INVOICE' } });
    expect(failed?.evidence?.map((file) => file.key)).toEqual(['screenshot.png', 'page.html'].map((name) => `jobs/${job.jobId}/items/b/evidence/attempt-1/${name}`));
    expect(files.text(`jobs/${job.jobId}/items/b/evidence/attempt-1/page.html`)).toBe('<html>failed page</html>');
    expect(sessions.tracesStarted).toEqual([]);
    expect(pauses.waits).toEqual([]);
  });

  it('fails the job with a business error when every item failed on its data', async () => {
    const unknown = () => Promise.reject(businessError('UNKNOWN_INVOICE', 'unknown'));
    const { robot, calls } = itemRobot({ a: unknown, b: unknown, c: unknown });

    await expect(runRobotJob(job, depsFor(robot), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'ALL_ITEMS_FAILED' });
    expect(calls.summary?.failed).toBe(3);
  });

  it('retries a technical error with backoff, tracing the retries; an item that still fails is FAILED with its trace and the job goes on', async () => {
    const { robot, calls } = itemRobot({ b: () => Promise.reject(technicalError('PAGE_UNAVAILABLE', '503')) });

    const result = await runRobotJob(job, depsFor(robot), attempt());

    expect(result.status).toBe('PARTIAL');
    expect(calls.processed).toEqual(['a', ...Array<string>(ITEM_RETRY.maxTries).fill('b'), 'c']);
    expect(pauses.waits).toHaveLength(ITEM_RETRY.maxTries - 1);
    pauses.waits.forEach((ms, index) => expect(ms).toBeLessThanOrEqual(ITEM_RETRY.baseDelayMs * 2 ** index));
    // The first try is not traced; each retry is, and only the last one's trace is kept.
    expect(sessions.tracesStarted).toEqual(Array<string>(ITEM_RETRY.maxTries - 1).fill('b'));
    expect(sessions.tracesKept).toBe(1);
    const failed = await byKey('b');
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 1, error: { type: 'TECHNICAL', code: 'PAGE_UNAVAILABLE' } });
    expect(failed?.evidence?.map((file) => file.name)).toEqual(['screenshot.png', 'page.html', 'trace.zip']);
    expect(await byKey('c')).toMatchObject({ status: 'SUCCEEDED' });

    // Retrying the job picks up exactly the item that failed.
    expect(await retryInput(items, job, 'keys')).toEqual({ keys: ['b'] });
  });

  it("waits at least the portal's Retry-After before the next try, and a retry that passes leaves no evidence", async () => {
    let tries = 0;
    const { robot } = itemRobot({ b: async () => void (++tries < 3 && (await Promise.reject(technicalError('PAGE_UNAVAILABLE', '503', 7_000)))) });

    await expect(runRobotJob(job, depsFor(robot), attempt())).resolves.toMatchObject({ status: 'SUCCEEDED' });

    expect(pauses.waits).toEqual([7_000, 7_000]);
    expect(await byKey('b')).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    expect((await byKey('b'))?.evidence).toBeUndefined();
    expect(sessions).toMatchObject({ tracesStarted: ['b', 'b'], tracesKept: 0, closedWhileTracing: 0 });
  });

  it('fails the attempt technically when the portal is down: items in a row failing, or none succeeding', async () => {
    job.input = { keys: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] };
    const down = () => Promise.reject(technicalError('PAGE_UNAVAILABLE', '503'));
    const { robot, calls } = itemRobot(Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((key) => [key, down])));

    await expect(runRobotJob(job, depsFor(robot), attempt())).rejects.toMatchObject({ type: 'TECHNICAL', code: 'PORTAL_DOWN' });
    expect(new Set(calls.processed)).toEqual(new Set(['a', 'b', 'c', 'd', 'e']));
    expect((await itemsOf()).map((item) => item.status)).toEqual(['FAILED', 'FAILED', 'FAILED', 'FAILED', 'FAILED', 'PENDING', 'PENDING']);

    // Two items, both failing technically: fewer than in a row, but nothing succeeded.
    job = makeJob({ robot: 'items-robot', status: 'RUNNING', input: { keys: ['x', 'y'] } });
    await jobs.create(job);
    const { robot: flaky } = itemRobot({ x: down, y: down });
    await expect(runRobotJob(job, depsFor(flaky), attempt())).rejects.toMatchObject({ code: 'PORTAL_DOWN' });
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
    expect(sessions.closed).toBe(1);
  });

  it('refuses item keys that are not safe file names', async () => {
    job.input = { keys: ['a', '../etc'] };
    const { robot } = itemRobot();

    await expect(runRobotJob(job, depsFor(robot), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'INPUT_INVALID' });
    expect(await itemsOf()).toEqual([]);
  });
});

/** A promise with its resolve, to hold items until a test lets them go on. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('robot runtime: signing in again', () => {
  /** A portal whose session a test can end; items throw sessionEnded() while it is ended. */
  function portalRobot(pages: number, process: (key: string, portal: { signedIn: boolean }) => Promise<void> = async () => {}) {
    const portal = { signedIn: false, logins: 0, login: async (): Promise<void> => {} };
    const robot = keysRobot({
      pagesPerSession: pages,
      login: async () => {
        portal.logins++;
        await portal.login();
        await Promise.resolve();
        portal.signedIn = true;
      },
      processItem: async (_context, { key }) => {
        await process(key, portal);
        if (!portal.signedIn) throw sessionEnded();
        return {};
      },
    });
    return { robot, portal };
  }

  it('signs in once for all pages that found the session ended, and repeats their items without counting another attempt', async () => {
    job.input = { keys: ['a', 'b', 'c', 'd', 'e'] };
    const allThree = gate();
    let waiting = 0;
    const { robot, portal } = portalRobot(3, async (key, state) => {
      if (['a', 'b', 'c'].includes(key) && waiting < 3) {
        // The portal ends the session while three items are on their pages.
        if (++waiting === 3) {
          state.signedIn = false;
          allThree.open();
        }
        await allThree.opened;
      }
    });

    await expect(runRobotJob(job, depsFor(robot, { maxPagesPerSession: 3 }), attempt())).resolves.toMatchObject({ status: 'SUCCEEDED' });

    expect(portal.logins).toBe(2);
    expect((await itemsOf()).map(({ status, attempts }) => [status, attempts])).toEqual(Array(5).fill(['SUCCEEDED', 1]));
    expect(pauses.waits).toEqual([]);
  });

  it('treats a session that ends again right after the new login as a technical failure of the item, with bounded logins', async () => {
    const { robot, portal } = portalRobot(1, async (key, state) => {
      if (key === 'b') state.signedIn = false;
    });

    await expect(runRobotJob(job, depsFor(robot), attempt())).resolves.toMatchObject({ status: 'PARTIAL' });

    expect(await byKey('b')).toMatchObject({ status: 'FAILED', attempts: 1, error: { type: 'TECHNICAL', code: 'PORTAL_SESSION_LOST' } });
    expect(await byKey('c')).toMatchObject({ status: 'SUCCEEDED' });
    // The first login, one per try of b, and one for c, which found the session b left ended.
    expect(portal.logins).toBe(1 + ITEM_RETRY.maxTries + 1);
  });

  it('never retries a refused login: the first one, or one after the session ended, fails the attempt once', async () => {
    const refused = portalRobot(1);
    refused.portal.login = () => Promise.reject(businessError('LOGIN_REJECTED', 'refused'));
    await expect(runRobotJob(job, depsFor(refused.robot), attempt())).rejects.toMatchObject({ type: 'BUSINESS', code: 'LOGIN_REJECTED' });
    expect(refused.portal.logins).toBe(1);
    expect(pauses.waits).toEqual([]);

    // Signed in at first; the portal refuses the login after it ended the session, with three pages waiting on it.
    job.input = { keys: ['d', 'e', 'f', 'g'] };
    const allThree = gate();
    let waiting = 0;
    const later = portalRobot(3, async (_key, state) => {
      if (waiting < 3 && ++waiting === 3) {
        state.signedIn = false;
        later.portal.login = () => Promise.reject(businessError('LOGIN_REJECTED', 'refused'));
        allThree.open();
      }
      await allThree.opened;
    });
    await expect(runRobotJob(job, depsFor(later.robot, { maxPagesPerSession: 3 }), attempt())).rejects.toMatchObject({ code: 'LOGIN_REJECTED' });
    expect(later.portal.logins).toBe(2);
    // No item is settled by the refusal: a later attempt, with the credentials fixed, does them.
    expect((await itemsOf()).filter((item) => ['d', 'e', 'f', 'g'].includes(item.key)).map((item) => item.status)).toEqual(Array(4).fill('PENDING'));
  });

  it('retries a login that fails technically, waiting what the portal asks', async () => {
    const { robot, portal } = portalRobot(1);
    portal.login = async () => {
      if (portal.logins < 3) throw technicalError('PAGE_UNAVAILABLE', '503', 2_000);
    };

    await expect(runRobotJob(job, depsFor(robot), attempt())).resolves.toMatchObject({ status: 'SUCCEEDED' });
    expect(portal.logins).toBe(3);
    expect(pauses.waits).toEqual([2_000, 2_000]);
  });
});

describe('robot runtime: parallel pages in one session', () => {
  it('runs as many items at once as the robot declares, capped by the stage, each on its own page and checkpointed once', async () => {
    const keys = Array.from({ length: 12 }, (_, index) => `item-${index}`);
    job.input = { keys };
    const running = new Map<string, number>();
    let most = 0;
    const robot = keysRobot({
      pagesPerSession: 5,
      processItem: async ({ page }, { key }) => {
        running.set(key, (page as unknown as FakePage).id);
        most = Math.max(most, running.size);
        // Never two items on one page at the same time.
        expect(new Set(running.values()).size).toBe(running.size);
        for (let tick = 0; tick < 1 + (key.length % 3); tick++) await Promise.resolve();
        running.delete(key);
        return { file: { name: `${key}.txt`, contentType: 'text/plain', body: Buffer.from(key) } };
      },
    });
    const deps = depsFor(robot, { maxPagesPerSession: 3 });
    const begin = vi.spyOn(items, 'beginItem');
    const succeeded = vi.spyOn(items, 'markSucceeded');

    await expect(runRobotJob(job, deps, attempt())).resolves.toMatchObject({ status: 'SUCCEEDED' });

    expect(most).toBe(3);
    expect(sessions.pagesOpened).toBe(3);
    expect(begin.mock.calls.map(([, key]) => key).sort()).toEqual([...keys].sort());
    expect(succeeded.mock.calls.map(([, key]) => key).sort()).toEqual([...keys].sort());
    expect([...files.puts.values()].every((puts) => puts === 1)).toBe(true);
  });

  it('reports progress once per item, up to the total', async () => {
    job.input = { keys: ['a', 'b', 'c', 'd'] };
    const reported: Array<[number, number]> = [];
    const robot = keysRobot({ pagesPerSession: 2 });
    const deps = depsFor(robot, { maxPagesPerSession: 2 });
    const log = deps.log;
    deps.log = { ...log, child: (fields, secrets) => {
      const child = log.child(fields, secrets);
      return { ...child, info: (event, data) => (event === 'robot.progress' ? void reported.push([data?.done as number, data?.total as number]) : child.info(event, data)) };
    } };

    await runRobotJob(job, deps, attempt());

    expect(reported).toEqual([[1, 4], [2, 4], [3, 4], [4, 4]]);
  });

  it('stops every page between items when the attempt ends, leaving the rest pending', async () => {
    job.input = { keys: Array.from({ length: 10 }, (_, index) => `k${index}`) };
    let checkpoints = 0;
    const robot = keysRobot({ pagesPerSession: 3 });
    const cancelledAfterFour = attempt({
      checkpoint: async () => {
        if (++checkpoints > 4) throw new Error('cancelled');
      },
    });

    await expect(runRobotJob(job, depsFor(robot, { maxPagesPerSession: 3 }), cancelledAfterFour)).rejects.toThrow('cancelled');

    const statuses = (await itemsOf()).map((item) => item.status);
    expect(statuses.filter((status) => status === 'SUCCEEDED')).toHaveLength(4);
    expect(statuses.filter((status) => status === 'PENDING')).toHaveLength(6);
    expect(sessions.closed).toBe(1);
  });

  it('replaces a page after it served its share of items', async () => {
    job.input = { keys: ['a', 'b', 'c', 'd', 'e'] };
    const pagesUsed: number[] = [];
    const robot = keysRobot({ processItem: async ({ page }) => (pagesUsed.push((page as unknown as FakePage).id), {}) });

    await runRobotJob(job, depsFor(robot, { recyclePageAfterItems: 2 }), attempt());

    expect(pagesUsed).toEqual([1, 1, 2, 2, 3]);
    expect(sessions.pagesReplaced).toBe(2);
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
    expect(sessions.opened).toBe(0);
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
