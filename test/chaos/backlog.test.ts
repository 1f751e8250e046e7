import { afterAll, describe, expect, it } from 'vitest';
import {
  CHAOS_SEED,
  ChaosStack,
  OLD_HEARTBEAT_WINDOW_MS,
  drain,
  printFigures,
  robotStarts,
  scaled,
  snapshotJob,
  submitAll,
  verify,
} from '../support/chaos';

/**
 * Chaos (d): a backlog the worker needs minutes to clear. Under the old design the task token's
 * 60 s heartbeat ran from the send, so every job still queued after 60 s failed unseen; now a job
 * waits in the queue as long as it takes and is bounded only by its own timeoutSeconds of robot time.
 */
const JOBS = scaled(60, 700);
/**
 * A slow page: the default backlog of few, slow jobs outlasts the old 60 s window at a fraction of the
 * machine time of many fast ones (the guarantee under test is about waiting, not about throughput).
 */
const PAGE = scaled('/slow?ms=2500', '/slow?ms=1000');

let chaos: ChaosStack | undefined;
afterAll(() => chaos?.stop('backlog'));

describe('chaos: backlog', () => {
  it(`runs all of ${JOBS} jobs submitted at once, however long they wait in the queue`, async () => {
    chaos = await ChaosStack.start();
    const submitStarted = Date.now();
    const accepted = await submitAll(chaos, Array.from({ length: JOBS }, () => snapshotJob(chaos!, PAGE)));
    const submitMs = Date.now() - submitStarted;

    const drained = await drain(chaos, accepted, scaled(600_000, 3_600_000));
    const result = await verify(chaos, accepted, { expect: { 'web-snapshot': ['SUCCEEDED'] }, kills: 0, redownloadAllowance: 0 });

    const starts = robotStarts(chaos.events());
    const waits = accepted.map((job) => (starts.get(job.jobId) ?? Number.NaN) - job.submittedAt);
    const waitedPastOldWindow = waits.filter((wait) => wait > OLD_HEARTBEAT_WINDOW_MS).length;
    printFigures('backlog', {
      ...result.figures,
      seed: CHAOS_SEED,
      submitMs,
      drainMs: drained.ms,
      maxQueueWaitS: Math.round(Math.max(...waits) / 1000),
      waitedPast60s: waitedPastOldWindow,
      jobsPerMinute: Math.round((JOBS * 60_000) / drained.ms),
      backlogMinutes: (drained.ms / 60_000).toFixed(1),
    }, result.problems);

    expect(drained.pending).toEqual([]);
    expect(result.problems).toEqual([]);
    // The backlog really outlasted the old heartbeat window: a good share of it would have failed unseen.
    expect(waitedPastOldWindow).toBeGreaterThanOrEqual(JOBS / 5);
  });
});
