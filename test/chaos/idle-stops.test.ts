import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import {
  BEAT_SECONDS,
  CHAOS_SEED,
  ChaosStack,
  WINDOW_MS,
  WORKER_CONCURRENCY,
  drain,
  isAlive,
  printFigures,
  robotStarts,
  scaled,
  snapshotJob,
  submitAll,
  verify,
  type Accepted,
} from '../support/chaos';

/**
 * Chaos (b): the worker is stopped while it waits in its long poll (no jobs), and jobs are submitted
 * at once, while that poll is still open on the queue.
 *
 * SIGTERM: the stopping worker waits for its open receive and hands back whatever it brought. Checked
 * directly: once the stopped worker has exited (and before the supervisor's next one is up), the
 * queue holds no hidden message; and the next worker takes every job in its first receive. A message
 * swallowed by a receive that nobody reads would stay hidden for one window (3 beats) instead.
 *
 * SIGKILL: a receive that dies with its process may still take a message on the server side, which
 * then comes back after that one window: a job may be at most one window late, counted from when
 * the new worker is up.
 */
/** Each round stops the worker twice (SIGTERM, then SIGKILL) and waits for the supervisor's next one. */
const ROUNDS = scaled(1, 8);
const BEAT_MS = BEAT_SECONDS * 1000;

let chaos: ChaosStack | undefined;
afterAll(() => chaos?.stop('idle-stops'));

interface Round {
  signal: 'SIGTERM' | 'SIGKILL';
  jobs: Accepted[];
  /** The robot queue just after the stopped or killed worker exited. */
  queueAtExit: { visible: number; hidden: number };
  /** Submission to robot start, per job. */
  waitsMs: number[];
  /** Robot start after the later of submission and the new worker's first receive, per job. */
  afterWorkerUpMs: number[];
  releasedOnStop: number;
}

describe('chaos: stops while idle', () => {
  it('swallows no message when the idle worker is stopped or killed with jobs on their way', async () => {
    chaos = await ChaosStack.start();
    const stack = chaos;
    // A first job, so that the worker has run one and gone back to its receive loop.
    const warmUp = await submitAll(stack, [snapshotJob(stack)]);
    expect((await drain(stack, warmUp, 60_000)).pending).toEqual([]);
    const rounds: Round[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        // Idle: every job so far has ended, and the worker's current receive opened when it started
        // or when its last job ended, a second or two ago: it stays open for most of its 10 s.
        const mark = stack.mark();
        const pid = stack.workerPid();
        process.kill(pid, signal);
        // As many jobs as the next worker takes in its first receive.
        const jobs = await submitAll(stack, Array.from({ length: WORKER_CONCURRENCY }, () => snapshotJob(stack)));
        await pollUntil(() => (isAlive(pid) ? undefined : true), { timeoutMs: 30_000, intervalMs: 10, description: `worker ${pid} to exit` });
        // The supervisor waits a second before it starts the next worker: nothing receives meanwhile.
        const queueAtExit = await stack.queueCounts();
        const next = await stack.waitForWorker(mark, 60_000);
        const drained = await drain(stack, jobs, 60_000);
        expect(drained.pending, `${signal} round ${round}: jobs left`).toEqual([]);
        const starts = robotStarts(stack.eventsSince(mark));
        rounds.push({
          signal,
          jobs,
          queueAtExit,
          waitsMs: jobs.map((job) => (starts.get(job.jobId) ?? Number.NaN) - job.submittedAt),
          afterWorkerUpMs: jobs.map((job) => (starts.get(job.jobId) ?? Number.NaN) - Math.max(job.submittedAt, next.at)),
          releasedOnStop: stack.eventsSince(mark, 'message.released').filter((event) => event.when === 'received-while-stopping').length,
        });
      }
    }

    const accepted = [...warmUp, ...rounds.flatMap((round) => round.jobs)];
    // A worker that dies of SIGTERM (no handler) would hand nothing back: the supervisor says so.
    const diedOfSigterm = stack.stack.output().match(/worker exited \(SIGTERM\)/g)?.length ?? 0;
    const result = await verify(stack, accepted, { expect: { 'web-snapshot': ['SUCCEEDED'] }, kills: rounds.length, redownloadAllowance: 0 });
    const term = rounds.filter((round) => round.signal === 'SIGTERM');
    const kill = rounds.filter((round) => round.signal === 'SIGKILL');
    const max = (values: number[]) => Math.round(Math.max(...values));
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    printFigures(
      'idle-stops',
      {
        ...result.figures,
        seed: CHAOS_SEED,
        windowMs: WINDOW_MS,
        sigtermUnhandled: diedOfSigterm,
        sigtermReleasedWhileStopping: sum(term.map((round) => round.releasedOnStop)),
        sigtermHiddenAtExit: sum(term.map((round) => round.queueAtExit.hidden)),
        sigtermMaxAfterWorkerUpMs: max(term.flatMap((round) => round.afterWorkerUpMs)),
        sigtermMaxWaitMs: max(term.flatMap((round) => round.waitsMs)),
        sigkillHiddenAtExit: sum(kill.map((round) => round.queueAtExit.hidden)),
        sigkillMaxAfterWorkerUpMs: max(kill.flatMap((round) => round.afterWorkerUpMs)),
        sigkillMaxWaitMs: max(kill.flatMap((round) => round.waitsMs)),
      },
      result.problems,
    );

    expect(result.problems).toEqual([]);
    expect(diedOfSigterm, 'workers that died of SIGTERM instead of stopping').toBe(0);
    for (const round of term) {
      // The dying worker's open receive did take a message (the case under test) and handed it back.
      expect(round.releasedOnStop, 'messages released by the stopping worker').toBeGreaterThanOrEqual(1);
      expect(round.queueAtExit.hidden, 'messages hidden after the stopped worker exited').toBe(0);
      for (const lateMs of round.afterWorkerUpMs) expect(lateMs).toBeLessThan(BEAT_MS);
    }
    // At most one window late once the new worker is up (plus one beat for the run's own steps).
    for (const round of kill) for (const lateMs of round.afterWorkerUpMs) expect(lateMs).toBeLessThan(WINDOW_MS + BEAT_MS);
  });
});
