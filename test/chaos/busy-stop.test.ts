import { afterAll, describe, expect, it } from 'vitest';
import { ROBOT_QUEUE_MAX_RECEIVES } from '../../core/delivery';
import { pollUntil } from '../../local/emulators/poll';
import { isTerminal } from '../support/local-client';
import {
  BEAT_SECONDS,
  CHAOS_SEED,
  ChaosStack,
  WORKER_CONCURRENCY,
  drain,
  freightJob,
  invoiceBlock,
  printFigures,
  scaled,
  submitAll,
  taskKey,
  tasksInFlight,
  verify,
  type WorkerKill,
} from '../support/chaos';

/**
 * Chaos (c): SIGTERM while the worker is busy with long freight jobs on a slow portal. A stopping
 * worker lets each job finish its current item, then hands its message back at once; the restarted
 * worker resumes from the checkpoints. So no invoice is downloaded twice, no item is begun twice,
 * and the next worker takes the jobs in its first receive instead of after a window.
 * Jobs fan out into chunks (25 items locally), so one job may have several tasks in flight at a
 * stop: the stop's guarantees hold per task (chunk or finish step), see taskKey.
 */
/**
 * Every stop is one more receive of the same message; the receive after the last allowed one moves
 * the job to the DLQ reprocessor's last attempt (core/delivery.ts), so at most that many minus one.
 */
const STOPS = scaled(2, ROBOT_QUEUE_MAX_RECEIVES - 1);
/**
 * At most one chunk per job (25 items locally): with more chunk messages than the worker's slots,
 * the next worker's first receive may take a queued chunk instead of a released one (SQS has no
 * order), and "resumed in the first receive" would measure the queue, not the stop. 40 invoices
 * (two chunks a job) failed exactly that way at the large setting.
 */
const INVOICES = scaled(14, 25);
/** Items that succeed between two stops. */
const ITEMS_BETWEEN_STOPS = 3;

let chaos: ChaosStack | undefined;
afterAll(() => chaos?.stop('busy-stop'));

describe('chaos: stop while busy', () => {
  it(`hands back and resumes jobs without repeating an item over ${STOPS} SIGTERMs`, async () => {
    chaos = await ChaosStack.start();
    const stack = chaos;
    await stack.setFaults({ latencyMs: 250 });
    const accepted = await submitAll(
      stack,
      Array.from({ length: WORKER_CONCURRENCY }, (_, block) => freightJob(stack, invoiceBlock(block, INVOICES))),
    );
    /** Succeeded items so far, or undefined once every job has ended (then there is nothing left to stop). */
    const succeededItems = async () => {
      let count = 0;
      let running = false;
      for (const job of accepted) {
        const { body } = await stack.client.api('GET', `/jobs/${job.jobId}/items?limit=100&status=SUCCEEDED`, { token: stack.token });
        count += body.items.length;
        running ||= !isTerminal((await stack.client.api('GET', `/jobs/${job.jobId}`, { token: stack.token })).body);
      }
      return running ? count : undefined;
    };

    const stops: Array<WorkerKill & { inFlight: string[]; released: string[]; finishedWhileStopping: string[]; resumedWithinBeatMs: number[] }> = [];
    let workerMark = 0;
    let done = 0;
    for (let s = 0; s < STOPS; s++) {
      const target = done + ITEMS_BETWEEN_STOPS;
      const reached = await pollUntil(async () => {
        const count = await succeededItems();
        return count === undefined ? 'ended' : count >= target ? count : undefined;
      }, { timeoutMs: 120_000, intervalMs: 100, description: `${target} succeeded items` });
      if (reached === 'ended') break;
      done = reached;
      const mark = stack.mark();
      const inFlight = [...tasksInFlight(stack.events().slice(workerMark, mark))];
      const stop = await stack.killWorker('SIGTERM');
      workerMark = mark;
      const released = stack
        .eventsSince(mark, 'message.released')
        .filter((event) => event.when === 'stopping')
        .map(taskKey);
      // Jobs on their last item finish it and report success; any other outcome is a failure of the stop.
      const finishedWhileStopping = stack
        .eventsSince(mark, 'message.done')
        .filter((event) => event.at < stop.next.at)
        .map((event) => (event.outcome === 'success' ? taskKey(event) : `${taskKey(event)} (${String(event.outcome)})`));
      // Each released task is taken by the next worker's first receive.
      const resumed = await pollUntil(() => {
        const starts = stack.eventsSince(mark, 'robot.started').filter((event) => event.at >= stop.next.at);
        return released.every((task) => starts.some((event) => taskKey(event) === task)) ? starts : undefined;
      }, { timeoutMs: 60_000, intervalMs: 50, description: 'the released tasks to start again' });
      const resumedWithinBeatMs = released.map((task) => resumed.find((event) => taskKey(event) === task)!.at - stop.next.at);
      stops.push({ ...stop, inFlight, released, finishedWhileStopping, resumedWithinBeatMs });
    }

    const drained = await drain(stack, accepted, 300_000);
    const result = await verify(stack, accepted, {
      expect: { 'freight-pod-download': ['SUCCEEDED'] },
      kills: stops.length,
      // A stop lets the current item finish before the message goes back: nothing is downloaded twice.
      redownloadAllowance: 0,
    });
    const items = [...result.items.values()].flat();
    printFigures(
      'busy-stop',
      {
        ...result.figures,
        seed: CHAOS_SEED,
        invoices: items.length,
        released: stops.reduce((sum, stop) => sum + stop.released.length, 0),
        maxResumeAfterWorkerUpMs: stops.some((stop) => stop.released.length > 0) ? Math.max(...stops.flatMap((stop) => stop.resumedWithinBeatMs)) : 'none released',
        // Attempts that ended in a technical failure instead of a release (the workflow then retries).
        technicalFailures: stack.events().filter((event) => event.message === 'message.done' && event.outcome === 'Robot.Technical').length,
        attempts: accepted.map((job) => result.jobs.get(job.jobId)?.attempts).join('/'),
      },
      result.problems,
    );

    for (const [index, stop] of stops.entries()) {
      // Every task (chunk) running at the stop was handed back (or finished its last item meanwhile),
      // and taken up within a beat of the next worker's start.
      const stopped = `stop ${index + 1}: in flight ${stop.inFlight.join(',')}; released ${stop.released.join(',') || 'none'}`;
      expect([...stop.released, ...stop.finishedWhileStopping].sort(), stopped).toEqual([...stop.inFlight].sort());
      expect(stop.released.length, stopped).toBeGreaterThanOrEqual(1);
      for (const ms of stop.resumedWithinBeatMs) expect(ms).toBeLessThan(BEAT_SECONDS * 1000);
    }
    expect(stops.length, 'stops made before every job had ended').toBe(STOPS);
    expect(drained.pending).toEqual([]);
    expect(items.filter((item) => item.attempts !== 1).map((item) => `${item.key}:${item.attempts}`), 'items begun more than once').toEqual([]);
    expect(result.problems).toEqual([]);
    expect(result.figures).toMatchObject({ lost: 0, duplicated: 0, stuck: 0, timedOut: 0, redownloads: 0 });
  });
});
