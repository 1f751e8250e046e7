import { setTimeout as sleep } from 'node:timers/promises';
import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { LONG_POLL_SECONDS } from '../../../core/delivery';
import { handleMessage, releaseMessage, type MessageDeps, type WaitingRoom } from '../../../runtime/handle-message';
import type { ScaleInProtection } from './scale-in-protection';

export interface WorkerDeps extends MessageDeps {
  /** Jobs run at once; the poll asks SQS for at most the free slots. */
  concurrency: number;
  /** Told how many jobs it holds, so that autoscaling never stops a busy task. */
  protection?: ScaleInProtection;
}

export interface RunningWorker {
  /**
   * Stops polling and lets running jobs reach a safe point: an item robot stops after its
   * current item, a simple robot finishes. Jobs still running after `deadlineMs` are aborted.
   * Either way an unfinished job's message becomes visible again for another worker at once.
   */
  stop(deadlineMs: number): Promise<void>;
}

/** SQS returns at most 10 messages per receive. */
const MAX_BATCH = 10;
const POLL_RETRY_MS = 2_000;
/** Jobs one worker may hold while they wait for a portal slot, per job slot. */
const PARKED_PER_SLOT = 4;

export function startWorker(deps: WorkerDeps): RunningWorker {
  const stopRequested = new AbortController();
  const draining = new AbortController();
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  const slots = new WorkerSlots(deps.concurrency, deps.concurrency * (1 + PARKED_PER_SLOT), () => deps.protection?.update(running.size));

  const run = (message: Message) => {
    slots.take();
    const job = handleMessage(message, deps, { draining: draining.signal, stopping: stopping.signal }, slots).finally(() => {
      running.delete(job);
      slots.done();
    });
    running.add(job);
    deps.protection?.update(running.size);
  };

  const loop = async () => {
    while (!stopRequested.signal.aborted) {
      const free = slots.free();
      if (free <= 0) {
        await slots.changed(stopRequested.signal);
        continue;
      }
      // Not aborted by stop(): a receive dropped on the client side may still take messages on the
      // server, which would then stay hidden for a whole window. It returns within LONG_POLL_SECONDS.
      const messages = await receive(deps, free, stopRequested.signal);
      if (stopRequested.signal.aborted) await Promise.all(messages.map((message) => releaseReceived(message, deps)));
      else for (const message of messages) run(message);
    }
  };
  const looping = loop();
  deps.log.info('worker.started', { concurrency: deps.concurrency });

  return {
    async stop(deadlineMs) {
      stopRequested.abort();
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

/**
 * The worker's job slots. A job that waits for a portal slot leaves its job slot (WaitingRoom) and
 * takes one again, before new messages, when its wait ends; at most `maxHeld` messages are held
 * in all, so one worker does not hoard the queue while its jobs wait.
 */
class WorkerSlots implements WaitingRoom {
  private active = 0;
  private held = 0;
  private readonly returning: Array<() => void> = [];
  private wake: (() => void) | undefined;

  constructor(
    private readonly concurrency: number,
    private readonly maxHeld: number,
    private readonly onChange: () => void,
  ) {}

  /** How many messages the next receive may take. */
  free(): number {
    return Math.min(this.concurrency - this.active - this.returning.length, this.maxHeld - this.held);
  }

  take(): void {
    this.active += 1;
    this.held += 1;
  }

  done(): void {
    this.held -= 1;
    this.leave();
  }

  async wait<T>(work: () => Promise<T>): Promise<T> {
    this.leave();
    try {
      return await work();
    } finally {
      await this.enter();
    }
  }

  /** Resolves when a slot may have come free, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private enter(): Promise<void> {
    if (this.active < this.concurrency) {
      this.active += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.returning.push(resolve));
  }

  private leave(): void {
    const next = this.returning.shift();
    if (next) next(); // the slot passes straight to a returning job
    else this.active -= 1;
    this.onChange();
    this.wake?.();
  }
}

/** Messages for up to `free` jobs. A failed poll is retried after a pause (cut short by a stop). */
async function receive(deps: WorkerDeps, free: number, stopRequested: AbortSignal): Promise<Message[]> {
  try {
    const { Messages } = await deps.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deps.queueUrl,
        MaxNumberOfMessages: Math.min(free, MAX_BATCH),
        WaitTimeSeconds: LONG_POLL_SECONDS,
        // Not the queue's default: a message taken by a worker that dies before its first beat
        // comes back within one window (core/delivery.ts).
        VisibilityTimeout: deps.timing.visibilitySeconds,
      }),
    );
    return Messages ?? [];
  } catch (error) {
    deps.log.error('poll.failed', { error });
    await sleep(POLL_RETRY_MS, undefined, { signal: stopRequested }).catch(() => undefined);
    return [];
  }
}

/** A message the last receive brought during a stop goes straight back to the queue. */
async function releaseReceived(message: Message, deps: WorkerDeps): Promise<void> {
  await releaseMessage(message, deps, 'received-while-stopping').catch((error: unknown) => deps.log.warn('visibility.failed', { error }));
}
