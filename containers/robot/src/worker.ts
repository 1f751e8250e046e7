import { setTimeout as sleep } from 'node:timers/promises';
import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { handleMessage, invisibleSeconds, type MessageDeps } from './handle-message';
import type { ScaleInProtection } from './scale-in-protection';

export interface WorkerDeps extends MessageDeps {
  /** Jobs run at once; the poll asks SQS for at most the free slots. */
  concurrency: number;
  /** Told how many jobs run, so that autoscaling never stops a busy task. */
  protection?: ScaleInProtection;
}

export interface RunningWorker {
  /**
   * Stops polling and lets running jobs reach a safe point: an item robot stops after its
   * current item, a simple robot finishes. Jobs still running after `deadlineMs` are aborted.
   * Either way an unfinished job's message becomes visible again for another worker.
   */
  stop(deadlineMs: number): Promise<void>;
}

/** SQS long polling: one request waits up to 20 s for messages, so an idle worker costs little. */
const LONG_POLL_SECONDS = 20;
/** SQS returns at most 10 messages per receive. */
const MAX_BATCH = 10;
const POLL_RETRY_MS = 2_000;

export function startWorker(deps: WorkerDeps): RunningWorker {
  const polling = new AbortController();
  const draining = new AbortController();
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  const pollingStopped = new Promise<void>((resolve) => polling.signal.addEventListener('abort', () => resolve(), { once: true }));

  const run = (message: Message) => {
    const job = handleMessage(message, deps, { draining: draining.signal, stopping: stopping.signal }).finally(() => {
      running.delete(job);
      deps.protection?.update(running.size);
    });
    running.add(job);
    deps.protection?.update(running.size);
  };

  const loop = async () => {
    while (!polling.signal.aborted) {
      if (running.size >= deps.concurrency) {
        await Promise.race([...running, pollingStopped]);
        continue;
      }
      for (const message of await receive(deps, deps.concurrency - running.size, polling.signal)) run(message);
    }
  };
  const looping = loop();
  deps.log.info('worker.started', { concurrency: deps.concurrency });

  return {
    async stop(deadlineMs) {
      polling.abort();
      draining.abort();
      await looping;
      const drained = await Promise.race([Promise.all(running).then(() => true), sleep(deadlineMs, false)]);
      if (!drained) {
        deps.log.warn('worker.deadline', { runningJobs: running.size });
        stopping.abort();
        await Promise.all(running);
      }
      deps.log.info('worker.stopped');
    },
  };
}

/** Messages for up to `free` jobs; none when stopping. A failed poll is retried after a pause. */
async function receive(deps: WorkerDeps, free: number, signal: AbortSignal): Promise<Message[]> {
  try {
    const { Messages } = await deps.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deps.queueUrl,
        MaxNumberOfMessages: Math.min(free, MAX_BATCH),
        WaitTimeSeconds: LONG_POLL_SECONDS,
        // Not the queue's default: a long poll left open by a worker that died may still take a
        // message, which must then come back within a few heartbeats, as after any crash.
        VisibilityTimeout: invisibleSeconds(deps.heartbeatSeconds),
      }),
      { abortSignal: signal },
    );
    return Messages ?? [];
  } catch (error) {
    if (signal.aborted) return [];
    deps.log.error('poll.failed', { error });
    await sleep(POLL_RETRY_MS, undefined, { signal }).catch(() => undefined);
    return [];
  }
}
