import { beforeEach, describe, expect, it } from 'vitest';
import { planJob } from '../../core/fan-out';
import { jobProgress, toJobView, type Job } from '../../core/job';
import { itemCountDelta, ProgressCountingItemStore } from '../../core/progress';
import { businessError } from '../../core/robot';
import { runRobotJob } from '../../runtime/robot-runtime';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { catalogOf, fakeRuntimeDeps, idleAttempt, keysRobot } from '../support/robot-runtime-fakes';

const NOW = '2026-12-02T10:00:00.000Z';
const technical = { type: 'TECHNICAL' as const, code: 'PORTAL_DOWN', message: '503' };
const business = { type: 'BUSINESS' as const, code: 'UNKNOWN_INVOICE', message: 'unknown' };

let jobs: MemoryJobStore;
let raw: MemoryItemStore;
let items: ProgressCountingItemStore;
let job: Job;

const counters = async () => {
  const { itemsTotal, itemsSucceeded, itemsFailed } = (await jobs.get(job.jobId))!;
  return { total: itemsTotal, succeeded: itemsSucceeded ?? 0, failed: itemsFailed ?? 0 };
};
/** What the item listing says: the counters must always equal it. */
const listed = async () => {
  const all = (await raw.list(job.jobId, { limit: 1000 })).items;
  return { total: all.length, succeeded: all.filter((i) => i.status === 'SUCCEEDED').length, failed: all.filter((i) => i.status === 'FAILED').length };
};

beforeEach(async () => {
  jobs = new MemoryJobStore();
  raw = new MemoryItemStore();
  items = new ProgressCountingItemStore(raw, jobs);
  job = makeJob({ robot: 'items-robot', status: 'RUNNING', input: { keys: ['a', 'b', 'c', 'd', 'e'] } });
  await jobs.create(job);
});

describe('item counters: the delta of one checkpoint', () => {
  it('moves an item between counters by the status it had just before the write', () => {
    expect(itemCountDelta('PENDING', 'SUCCEEDED')).toEqual({ succeeded: 1, failed: 0 });
    expect(itemCountDelta('PENDING', 'FAILED')).toEqual({ succeeded: 0, failed: 1 });
    expect(itemCountDelta('FAILED', 'SUCCEEDED')).toEqual({ succeeded: 1, failed: -1 });
    // A failure written again (a retry that fails again) and a write that did not happen move nothing.
    expect(itemCountDelta('FAILED', 'FAILED')).toBeUndefined();
    expect(itemCountDelta(undefined, 'SUCCEEDED')).toBeUndefined();
    expect(itemCountDelta(undefined, 'FAILED')).toBeUndefined();
  });
});

describe('item counters on the job record', () => {
  it('sets the total when the items are written, the same total when they are written again', async () => {
    await items.ensureItems(job.jobId, ['a', 'b', 'c', 'd', 'e'], NOW);
    await items.ensureItems(job.jobId, ['a', 'b', 'c', 'd', 'e'], NOW);
    expect(await counters()).toEqual({ total: 5, succeeded: 0, failed: 0 });
  });

  it('counts an item that failed technically and succeeded on a later attempt once, as succeeded', async () => {
    await items.ensureItems(job.jobId, ['a', 'b', 'c', 'd', 'e'], NOW);

    await items.markFailed(job.jobId, 'a', technical, [], NOW);
    expect(await counters()).toMatchObject({ succeeded: 0, failed: 1 });
    await items.markFailed(job.jobId, 'a', technical, [], NOW);
    expect(await counters()).toMatchObject({ succeeded: 0, failed: 1 });
    await items.markSucceeded(job.jobId, 'a', undefined, NOW);
    expect(await counters()).toMatchObject({ succeeded: 1, failed: 0 });
    // A late failure report of another delivery never overwrites the success, nor moves a counter.
    await items.markFailed(job.jobId, 'a', technical, [], NOW);
    await items.markSucceeded(job.jobId, 'a', undefined, NOW);
    await items.markFailed(job.jobId, 'b', business, [], NOW);

    expect(await counters()).toEqual({ total: 5, succeeded: 1, failed: 1 });
    expect(await counters()).toEqual(await listed());
  });

  it('counts a checkpoint of a missing item not at all', async () => {
    await items.ensureItems(job.jobId, ['a'], NOW);
    await items.markSucceeded(job.jobId, 'zz', undefined, NOW);
    await items.markFailed(job.jobId, 'zz', business, [], NOW);
    expect(await counters()).toEqual({ total: 1, succeeded: 0, failed: 0 });
  });
});

describe('item counters through the runtime', () => {
  it('equal the listing after a chunk is delivered again, twice at once, and after the finish', async () => {
    const robot = keysRobot({
      processItem: async (_context, { key }) => {
        if (key === 'd') throw businessError('UNKNOWN_INVOICE', 'no such invoice');
        return {};
      },
    });
    const deps = fakeRuntimeDeps(robot, { store: jobs, items });
    const plan = await planJob({ store: jobs, items, robots: catalogOf(robot) }, job.jobId, 3);
    expect(plan.chunks).toEqual([0, 1]);

    await runRobotJob(job, deps, idleAttempt(), { kind: 'chunk', chunk: { index: 0, size: 3 } });
    expect(await counters()).toEqual({ total: 5, succeeded: 3, failed: 0 });
    // Chunk 0 redelivered (its worker seemed dead): it finds its items settled and counts nothing.
    await runRobotJob(job, deps, idleAttempt(), { kind: 'chunk', chunk: { index: 0, size: 3 } });
    // Chunk 1 delivered twice at once: each item is checkpointed by one of them only.
    await Promise.all([1, 2].map(() => runRobotJob(job, deps, idleAttempt(), { kind: 'chunk', chunk: { index: 1, size: 3 } })));
    await runRobotJob(job, deps, idleAttempt(), { kind: 'finish' });

    expect(await counters()).toEqual({ total: 5, succeeded: 4, failed: 1 });
    expect(await counters()).toEqual(await listed());
  });
});

describe('the job resource progress', () => {
  const started = makeJob({ status: 'RUNNING', startedAt: '2026-12-02T10:00:00.000Z', itemsTotal: 100, itemsSucceeded: 27, itemsFailed: 3 });

  it('reports counts, the rate since the job started and the time left at that rate', () => {
    expect(jobProgress(started, new Date('2026-12-02T10:02:00.000Z'))).toEqual({
      total: 100,
      succeeded: 27,
      failed: 3,
      pending: 70,
      itemsPerMinute: 15,
      etaSeconds: 280,
    });
    expect(jobProgress(started, new Date('2026-12-02T10:00:07.000Z'))?.itemsPerMinute).toBe(257.1);
  });

  it('has no ETA before the first item is done nor once the job is finished; no progress for jobs without items', () => {
    const fresh = { ...started, itemsSucceeded: 0, itemsFailed: 0 };
    expect(jobProgress(fresh, new Date('2026-12-02T10:01:00.000Z'))).toEqual({ total: 100, succeeded: 0, failed: 0, pending: 100, itemsPerMinute: 0 });
    const finished = { ...started, status: 'PARTIAL' as const, updatedAt: '2026-12-02T10:04:00.000Z' };
    // The rate of a finished job is over its run, however long ago it ended.
    expect(jobProgress(finished, new Date('2026-12-03T00:00:00.000Z'))).toEqual({ total: 100, succeeded: 27, failed: 3, pending: 70, itemsPerMinute: 7.5 });
    expect(jobProgress(makeJob(), new Date())).toBeUndefined();
  });

  it('shows startedAt and progress in the job view, never the raw counters', () => {
    const view = toJobView(started, new Map(), new Date('2026-12-02T10:02:00.000Z'));
    expect(view).toMatchObject({ startedAt: '2026-12-02T10:00:00.000Z', progress: { total: 100, pending: 70 } });
    expect(view).not.toHaveProperty('itemsTotal');
    expect(view).not.toHaveProperty('itemsSucceeded');
    expect(toJobView(makeJob())).not.toHaveProperty('progress');
    expect(toJobView(makeJob())).not.toHaveProperty('startedAt');
  });
});
