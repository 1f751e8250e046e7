import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import type { DeliveryTiming } from '../core/delivery';
import { IllegalTransition } from '../core/errors';
import { isTerminal, type AttemptRuntime, type Job, type JobStatus } from '../core/job';
import { beginAttempt, sha256Hex } from '../core/jobs';
import type { Logger } from '../core/logger';
import { RobotError } from '../core/robot';
import { RobotErrorName, type RobotResult } from '../core/workflow-contract';
import { runRobotJob, type AttemptControl, type AttemptScope, type RuntimeDeps } from './robot-runtime';

/** What one attempt needs, whichever runtime runs it (the worker, the DLQ reprocessor). */
export interface AttemptDeps extends RuntimeDeps {
  timing: DeliveryTiming;
  /** The bound of a job stored before jobs carried their own timeoutSeconds. */
  defaultJobTimeoutSeconds: number;
}

/** Everything one message needs; the worker builds it once, tests pass fakes and mocked clients. */
export interface MessageDeps extends AttemptDeps {
  sqs: SQSClient;
  sfn: SFNClient;
  queueUrl: string;
}

/** How a runtime runs an attempt: where it runs, and what each heartbeat keeps alive besides the job check. */
export interface AttemptPlan {
  runtime: AttemptRuntime;
  keepAlive: Array<(attempt: AbortController) => Promise<void>>;
  /** Where the attempt waits for a shared resource (a portal slot); default: in place. */
  waitingRoom?: WaitingRoom;
}

/**
 * A wait for something another job holds (a portal slot). The worker frees the waiting job's
 * slot meanwhile, so that the holder's own redelivery can run on it instead of queueing behind
 * jobs that wait for the holder.
 */
export interface WaitingRoom {
  wait<T>(work: () => Promise<T>): Promise<T>;
}

const WAIT_IN_PLACE: WaitingRoom = { wait: (work) => work() };

/** How the worker tells a running job to stop. */
export interface StopSignals {
  /** Shutting down: stop at the next safe point (between items) and hand the message back. */
  draining: AbortSignal;
  /** The stop deadline has come: abort now and hand the message back. */
  stopping: AbortSignal;
}

const taskMessageSchema = z.object({
  jobId: z.string().min(1).max(64),
  taskToken: z.string().min(1).max(2048),
  chunk: z.object({ index: z.number().int().min(0), size: z.number().int().min(1) }).optional(),
  finish: z.literal(true).optional(),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

/** Why an attempt was aborted; each ends the message differently (see settle). */
type AbortReason =
  /** The job was cancelled (or settled otherwise) while the robot ran. */
  | { kind: 'job-ended'; status: JobStatus }
  /** The workflow no longer waits for this token (execution stopped, backstop passed). */
  | { kind: 'task-gone' }
  /** The worker is shutting down: another worker takes the job (and resumes its items). */
  | { kind: 'stopping' }
  /** The robot ran past the job's timeoutSeconds. */
  | { kind: 'deadline'; timeoutSeconds: number };

const abortWith = (attempt: AbortController, reason: AbortReason) => attempt.abort(reason);

export type Verdict =
  | { kind: 'success'; result: RobotResult }
  | { kind: 'failure'; error: string; code: string; message: string }
  | { kind: 'abandon' }
  | { kind: 'release' };

/** Step Functions errors that mean nobody waits for the report any more. */
const TASK_GONE_ERRORS = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

/**
 * Runs the job of one RobotTaskMessage and tells the workflow how it went. Never throws: a
 * message that could not be handled stays in the queue and comes back (or goes to the DLQ).
 */
export async function handleMessage(message: Message, deps: MessageDeps, stop: StopSignals, waitingRoom: WaitingRoom = WAIT_IN_PLACE): Promise<void> {
  const task = parseTask(message.Body);
  if (!task) {
    deps.log.error('message.malformed', { messageId: message.MessageId });
    return;
  }
  const log = deps.log.child(taskLogFields(task));
  const messageDeps = { ...deps, log };
  try {
    const verdict = await runJob(task, messageDeps, stop, {
      runtime: 'fargate',
      keepAlive: [
        (attempt) => keepTokenAlive(task, messageDeps, () => abortWith(attempt, { kind: 'task-gone' })),
        () => keepMessageInvisible(message, messageDeps),
      ],
      waitingRoom,
    });
    await settle(verdict, task, message, messageDeps);
  } catch (error) {
    log.error('message.unhandled', { error });
  }
}

/** Loads the task's job and, unless it has ended, runs one attempt of it; never reports anything. */
export async function runJob(task: TaskMessage, deps: AttemptDeps, stop: StopSignals, plan: AttemptPlan): Promise<Verdict> {
  const job = await deps.store.get(task.jobId);
  if (!job) return failure(RobotErrorName.business, 'JOB_NOT_FOUND', `Job ${task.jobId} does not exist`);
  const log = deps.log.child({ robot: job.robot });
  if (isTerminal(job.status)) return endedVerdict(log, job.status, 'before the robot ran');
  try {
    // The finish step writes the summary of attempts made: it is not one more.
    if (!task.finish) await beginAttempt(deps.store, job.jobId, plan.runtime);
  } catch (error) {
    // Settled between the read and the write: the first writer won.
    if (error instanceof IllegalTransition) return endedVerdict(log, (await deps.store.get(job.jobId))?.status, 'before the robot ran');
    throw error;
  }
  return runAttempt(job, task, { ...deps, log }, stop, plan);
}

/**
 * The job was settled elsewhere (cancelled by a client, or by another delivery): nothing to run. The
 * report tells the workflow so (its settle step leaves a terminal job as it is).
 */
function endedVerdict(log: Logger, status: JobStatus | undefined, when: string): Verdict {
  log.info('job.ended-elsewhere', { status, when });
  return endedFailure(status, when);
}

async function runAttempt(job: Job, task: TaskMessage, deps: AttemptDeps, stop: StopSignals, plan: AttemptPlan): Promise<Verdict> {
  const attempt = new AbortController();
  const abortOnStop = () => abortWith(attempt, { kind: 'stopping' });
  stop.stopping.addEventListener('abort', abortOnStop);
  const timeoutSeconds = job.timeoutSeconds ?? deps.defaultJobTimeoutSeconds;
  const deadline = startDeadline(timeoutSeconds, () => abortWith(attempt, { kind: 'deadline', timeoutSeconds }));
  const waitingRoom = plan.waitingRoom ?? WAIT_IN_PLACE;
  const heartbeat = startHeartbeat(task, deps, attempt, plan.keepAlive);
  const control: AttemptControl = {
    signal: attempt.signal,
    draining: stop.draining,
    checkpoint: async () => {
      if (stop.draining.aborted) abortWith(attempt, { kind: 'stopping' });
      else await abortIfJobEnded(task, deps, attempt);
      attempt.signal.throwIfAborted();
    },
    onHeartbeat: heartbeat.add,
    // Waiting for another job's portal slot is waiting for a worker: the job's clock does not run.
    whileWaiting: (work) => waitingRoom.wait(() => deadline.paused(work)),
  };
  const started = Date.now();
  try {
    deps.log.info('robot.started', { timeoutSeconds });
    const result = await untilAborted(runRobotJob(job, deps, control, scopeOf(task)), attempt.signal);
    deps.log.info('robot.succeeded', { ...result, ms: Date.now() - started });
    return { kind: 'success', result };
  } catch (error) {
    const verdict = attempt.signal.aborted ? verdictForAbort(attempt.signal.reason as AbortReason) : verdictForError(error);
    deps.log.warn('robot.failed', { verdict, error, ms: Date.now() - started });
    return verdict;
  } finally {
    deadline.clear();
    heartbeat.stop();
    stop.stopping.removeEventListener('abort', abortOnStop);
  }
}

function scopeOf(task: TaskMessage): AttemptScope {
  if (task.chunk) return { kind: 'chunk', chunk: task.chunk };
  return task.finish ? { kind: 'finish' } : { kind: 'job' };
}

function verdictForError(error: unknown): Verdict {
  if (error instanceof RobotError) {
    return failure(error.type === 'BUSINESS' ? RobotErrorName.business : RobotErrorName.technical, error.code, error.message);
  }
  return failure(RobotErrorName.technical, 'ROBOT_CRASHED', error instanceof Error ? error.message : String(error));
}

function verdictForAbort(reason: AbortReason): Verdict {
  switch (reason.kind) {
    case 'job-ended':
      return endedFailure(reason.status, 'while the robot ran');
    case 'deadline':
      return failure(RobotErrorName.timeout, 'JOB_TIMEOUT', `The robot ran longer than the job's timeoutSeconds (${reason.timeoutSeconds} s)`);
    case 'task-gone':
      return { kind: 'abandon' };
    case 'stopping':
      return { kind: 'release' };
  }
}

/** A job cancelled by a client is reported as such; one settled otherwise is not called cancelled. */
function endedFailure(status: JobStatus | undefined, when: string): Verdict {
  return status === 'CANCELLED'
    ? failure(RobotErrorName.cancelled, 'JOB_CANCELLED', `The job was cancelled ${when}`)
    : failure(RobotErrorName.jobEnded, 'JOB_ENDED', `The job was ${status ?? 'removed'} ${when}`);
}

interface Deadline {
  /** Runs `work` with the clock stopped. */
  paused<T>(work: () => Promise<T>): Promise<T>;
  clear(): void;
}

/** The job's own bound: robot time of this attempt, not time spent waiting for a worker or a slot. */
function startDeadline(timeoutSeconds: number, onPassed: () => void): Deadline {
  let remainingMs = timeoutSeconds * 1000;
  let runningSince = Date.now();
  let timer: NodeJS.Timeout | undefined = setTimeout(onPassed, remainingMs);
  return {
    async paused(work) {
      clearTimeout(timer);
      remainingMs -= Date.now() - runningSince;
      try {
        return await work();
      } finally {
        runningSince = Date.now();
        timer = setTimeout(onPassed, Math.max(0, remainingMs));
      }
    },
    clear: () => clearTimeout(timer),
  };
}

function failure(error: string, code: string, message: string): Verdict {
  return { kind: 'failure', error, code, message: message.slice(0, 1000) };
}

/** Reports the verdict and ends the message: deleted once reported, visible again when released. */
async function settle(verdict: Verdict, task: TaskMessage, message: Message, deps: MessageDeps): Promise<void> {
  if (verdict.kind === 'release') {
    await releaseMessage(message, deps, 'stopping');
    return;
  }
  if (verdict.kind !== 'abandon') await reportToWorkflow(verdict, task, deps);
  await deps.sqs.send(new DeleteMessageCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle }));
  deps.log.info('message.done', { outcome: verdict.kind === 'failure' ? verdict.error : verdict.kind });
}

/** Makes the message visible again at once: another worker takes the job (and resumes its items). */
export async function releaseMessage(message: Message, deps: Pick<MessageDeps, 'sqs' | 'queueUrl' | 'log'>, when: string): Promise<void> {
  await deps.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
  deps.log.info('message.released', { messageId: message.MessageId, when });
}

/** false when the workflow gave up on the token (timeout, stopped): the report had nobody to go to. */
export async function reportToWorkflow(
  verdict: Extract<Verdict, { kind: 'success' | 'failure' }>,
  task: TaskMessage,
  deps: Pick<MessageDeps, 'sfn' | 'log'>,
): Promise<boolean> {
  const { taskToken } = task;
  try {
    await (verdict.kind === 'success'
      ? deps.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(verdict.result) }))
      : deps.sfn.send(new SendTaskFailureCommand({ taskToken, error: verdict.error, cause: failureCause(verdict) })));
    return true;
  } catch (error) {
    if (!isTaskGone(error)) throw error;
    deps.log.warn('report.task-gone', { error });
    return false;
  }
}

/** The Cause of a reported failure, as the FailJob step parses it (core/jobs.ts failureOutcome). */
export function failureCause(verdict: Extract<Verdict, { kind: 'failure' }>): string {
  return JSON.stringify({ code: verdict.code, message: verdict.message });
}

/**
 * While the robot runs: keep the token alive, keep the message invisible, and notice a
 * cancellation. Beats are chained (not an interval) so a slow beat never overlaps the next.
 */
function startHeartbeat(
  task: TaskMessage,
  deps: AttemptDeps,
  attempt: AbortController,
  keepAlive: AttemptPlan['keepAlive'],
): { add: AttemptControl['onHeartbeat']; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const extraTasks = new Set<() => Promise<void>>();
  const schedule = () => {
    timer = setTimeout(() => void beat().finally(() => attempt.signal.aborted || schedule()), deps.timing.beatSeconds * 1000);
  };
  const beat = async () => {
    await Promise.all([
      ...keepAlive.map((keep) => keep(attempt)),
      abortIfJobEnded(task, deps, attempt),
      ...[...extraTasks].map((extraTask) => extraTask().catch((error: unknown) => deps.log.warn('heartbeat.task-failed', { error }))),
    ]);
  };
  // The first beat comes at once: it replaces the receive's visibility with the worker's own window.
  void beat().finally(() => attempt.signal.aborted || schedule());
  return {
    add: (extraTask) => {
      extraTasks.add(extraTask);
      return () => extraTasks.delete(extraTask);
    },
    stop: () => clearTimeout(timer),
  };
}

/**
 * Asks whether the workflow still waits for the token (the task has no heartbeat timeout, so this
 * only probes); `onGone` when it does not (execution stopped, backstop passed).
 */
export async function keepTokenAlive(task: TaskMessage, deps: Pick<MessageDeps, 'sfn' | 'log'>, onGone: () => void): Promise<void> {
  try {
    await deps.sfn.send(new SendTaskHeartbeatCommand({ taskToken: task.taskToken }));
  } catch (error) {
    if (isTaskGone(error)) onGone();
    else deps.log.warn('heartbeat.failed', { error });
  }
}

/** One window of invisibility from now: the message comes back within it after its worker dies. */
async function keepMessageInvisible(message: Message, deps: MessageDeps): Promise<void> {
  try {
    await deps.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: deps.timing.visibilitySeconds }),
    );
  } catch (error) {
    deps.log.warn('visibility.failed', { error });
  }
}

async function abortIfJobEnded(task: TaskMessage, deps: AttemptDeps, attempt: AbortController): Promise<void> {
  try {
    const job = await deps.store.get(task.jobId);
    if (job && isTerminal(job.status)) abortWith(attempt, { kind: 'job-ended', status: job.status });
  } catch (error) {
    deps.log.warn('job.read-failed', { error });
  }
}

/** Settles as soon as the signal aborts, without waiting for a robot that ignores it. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {}); // its rejection after an abort is expected and handled via the signal
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(`aborted: ${JSON.stringify(signal.reason)}`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function parseTask(body: string | undefined): TaskMessage | undefined {
  try {
    return taskMessageSchema.parse(JSON.parse(body ?? ''));
  } catch {
    return undefined;
  }
}

export function isTaskGone(error: unknown): boolean {
  return error instanceof Error && TASK_GONE_ERRORS.has(error.name);
}

/** What a task's log lines say about it: the job, the chunk or step, and the token's fingerprint. */
export function taskLogFields(task: TaskMessage): Record<string, unknown> {
  return { jobId: task.jobId, task: tokenRef(task.taskToken), ...(task.chunk ? { chunk: task.chunk.index } : {}), ...(task.finish ? { step: 'finish' } : {}) };
}

/** A short fingerprint that tells tokens apart in logs without revealing them. */
export function tokenRef(taskToken: string): string {
  return sha256Hex(taskToken).slice(0, 12);
}
