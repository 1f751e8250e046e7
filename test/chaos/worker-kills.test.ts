import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import {
  CHAOS_SEED,
  ChaosStack,
  PORTAL_MAX_SESSIONS,
  drain,
  freightJob,
  invoiceBlock,
  printFigures,
  scaled,
  seededRandom,
  submit,
  tasksInFlight,
  verify,
  type Accepted,
  type WorkerKill,
} from '../support/chaos';

/**
 * Chaos (a): the worker, run as its image ships it (--worker-image: the Dockerfile's esbuild bundle
 * and CMD), is SIGKILLed at seeded random moments while a stream of freight jobs runs. Each kill
 * leaves the jobs it held invisible in the queue for at most one window; the next worker resumes
 * them from their item checkpoints. Nothing may be lost, stuck, settled twice or timed out.
 */
const KILLS = scaled(6, 40);
/** Jobs submitted before the first kill and after each one: the worker always has work when killed. */
const JOBS_PER_KILL = 2;

let chaos: ChaosStack | undefined;
afterAll(() => chaos?.stop('worker-kills'));

describe('chaos: worker kills', () => {
  it(`finishes every job of a stream while its worker is SIGKILLed ${KILLS} times`, async () => {
    const random = seededRandom(CHAOS_SEED);
    chaos = await ChaosStack.start({ workerImage: true });
    const stack = chaos;
    // Every portal page a little slow, so that kills land inside items as well as between them.
    await stack.setFaults({ latencyMs: 100 });
    const accepted: Accepted[] = [];
    const submitSome = async () => {
      for (let i = 0; i < JOBS_PER_KILL; i++) accepted.push(await submit(stack, freightJob(stack, invoiceBlock(accepted.length, random.int(3, 5)))));
    };

    let worker = await stack.waitForWorker(0);
    let workerMark = 0;
    await submitSome();
    const kills: WorkerKill[] = [];
    let interrupted = 0;
    let cutDownloads = 0;
    for (let k = 0; k < KILLS; k++) {
      // The kill comes at a random moment up to 1.5 s after this worker finished its first item
      // (an item takes about a second here): inside an item, between two, or while reporting. The
      // pause is the chosen moment of the kill, not a wait for something to happen.
      await pollUntil(() => stack.eventsSince(workerMark, 'item.succeeded')[0], { timeoutMs: 60_000, intervalMs: 20, description: `worker ${worker.pid} to finish an item` });
      await sleep(random.between(0, 1_500));
      const killMark = stack.mark();
      const kill = await stack.killWorker('SIGKILL');
      kills.push(kill);
      const inFlight = tasksInFlight(stack.events().slice(workerMark, killMark)).size;
      interrupted += inFlight;
      // Jobs waiting for a portal slot hold no session: only those with one can lose a download.
      cutDownloads += Math.min(inFlight, PORTAL_MAX_SESSIONS);
      worker = kill.next;
      workerMark = killMark;
      await submitSome();
    }

    const drained = await drain(stack, accepted, scaled(300_000, 1_800_000));
    const result = await verify(stack, accepted, {
      expect: { 'freight-pod-download': ['SUCCEEDED'] },
      kills: kills.length,
      // A job killed between a download and its checkpoint downloads that one invoice again.
      redownloadAllowance: cutDownloads,
    });
    printFigures(
      'worker-kills',
      { ...result.figures, interruptedJobs: interrupted, seed: CHAOS_SEED, drainMs: drained.ms, worker: 'image' },
      result.problems,
    );

    expect(drained.pending).toEqual([]);
    expect(result.problems).toEqual([]);
    expect(result.figures).toMatchObject({ lost: 0, duplicated: 0, stuck: 0, timedOut: 0 });
    // The kills hit running jobs, and some of them inside an item (then resumed from the checkpoints).
    expect(interrupted).toBeGreaterThanOrEqual(KILLS);
    expect(result.figures.resumedItems).toBeGreaterThanOrEqual(1);
  });
});
