import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { IllegalTransition } from '../../../core/errors';
import { isTerminal, type AttemptRuntime, type Job } from '../../../core/job';
import { beginAttempt, sha256Hex } from '../../../core/jobs';
import type { Logger } from '../../../core/logger';
import { RobotError } from '../../../core/robot';
import { RobotErrorName, type RobotResult } from '../../../core/workflow-contract';
import { runRobotJob, type AttemptControl, type RuntimeDeps } from './robot-runtime';

/** What one attempt needs, whichever runtime runs it (the worker, the DLQ reprocessor). */
export interface AttemptDeps extends RuntimeDeps {
  heartbeatSeconds: number;
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
}

/** How the worker tells a running job to stop. */
export interface StopSignals {
  /** Shutting down: stop at the next safe point (between items) and hand the message back. */
  draining: AbortSignal;
  /** The stop deadline has come: abort now and hand the message back. */
  stopping: AbortSignal;
}

const taskMessageSchema = z.object({ jobId: z.string().min(1).max(64), taskToken: z.string().min(1).max(2048) });
export type TaskMessage = z.infer<typeof taskMessageSchema>;

/** Why an attempt was aborted; each ends the message differently (see settle). */
const AbortReason = {
  /** The job was cancelled (or settled otherwise) while the robot ran. */
  cancelled: 'cancelled',
  /** The workflow no longer waits for this token (timeout, execution stopped). */
  taskGone: 'task-gone',
  /** The worker is shutting down: another worker takes the job (and resumes its items). */
  stopping: 'stopping',
} as const;
type AbortReason = (typeof AbortReason)[keyof typeof AbortReason];

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
export async function handleMessage(message: Message, deps: MessageDeps, stop: StopSignals): Promise<void> {
  const task = parseTask(message.Body);
  if (!task) {
    deps.log.error('message.malformed', { messageId: message.MessageId });
    return;
  }
  const log = deps.log.child({ jobId: task.jobId, task: tokenRef(task.taskToken) });
  const messageDeps = { ...deps, log };
  try {
    const verdict = await runJob(task, messageDeps, stop, {
      runtime: 'fargate',
      keepAlive: [
        (attempt) => keepTokenAlive(task, messageDeps, () => attempt.abort(AbortReason.taskGone)),
        () => keepMessageInvisible(message, messageDeps),
      ],
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
  if (isTerminal(job.status)) return cancelledVerdict(log, job.status);
  try {
    await beginAttempt(deps.store, job.jobId, plan.runtime);
  } catch (error) {
    // Cancelled between the read and the write: the first writer won.
    if (error instanceof IllegalTransition) return cancelledVerdict(log, 'terminal');
    throw error;
  }
  return runAttempt(job, task, { ...deps, log }, stop, plan);
}

function cancelledVerdict(log: Logger, status: string): Verdict {
  log.info('job.skipped', { status });
  return failure(RobotErrorName.cancelled, 'JOB_CANCELLED', `The job is ${status}`);
}

async function runAttempt(job: Job, task: TaskMessage, deps: AttemptDeps, stop: StopSignals, plan: AttemptPlan): Promise<Verdict> {
  const attempt = new AbortController();
  const abortOnStop = () => attempt.abort(AbortReason.stopping);
  stop.stopping.addEventListener('abort', abortOnStop);
  const heartbeat = startHeartbeat(task, deps, attempt, plan.keepAlive);
  const control: AttemptControl = {
    signal: attempt.signal,
    draining: stop.draining,
    checkpoint: async () => {
      if (stop.draining.aborted) attempt.abort(AbortReason.stopping);
      else await abortIfJobEnded(task, deps, attempt);
      attempt.signal.throwIfAborted();
    },
    onHeartbeat: heartbeat.add,
  };
  const started = Date.now();
  try {
    deps.log.info('robot.started');
    const result = await untilAborted(runRobotJob(job, deps, control), attempt.signal);
    deps.log.info('robot.succeeded', { ...result, ms: Date.now() - started });
    return { kind: 'success', result };
  } catch (error) {
    const verdict = verdictForError(error, attempt.signal);
    deps.log.warn('robot.failed', { verdict, error, ms: Date.now() - started });
    return verdict;
  } finally {
    heartbeat.stop();
    stop.stopping.removeEventListener('abort', abortOnStop);
  }
}

function verdictForError(error: unknown, signal: AbortSignal): Verdict {
  if (signal.aborted) return verdictForAbort(signal.reason as AbortReason);
  if (error instanceof RobotError) {
    return failure(error.type === 'BUSINESS' ? RobotErrorName.business : RobotErrorName.technical, error.code, error.message);
  }
  return failure(RobotErrorName.technical, 'ROBOT_CRASHED', error instanceof Error ? error.message : String(error));
}

function verdictForAbort(reason: AbortReason): Verdict {
  switch (reason) {
    case AbortReason.cancelled:
      return failure(RobotErrorName.cancelled, 'JOB_CANCELLED', 'The job was cancelled while the robot ran');
    case AbortReason.taskGone:
      return { kind: 'abandon' };
    case AbortReason.stopping:
      return { kind: 'release' };
  }
}

function failure(error: string, code: string, message: string): Verdict {
  return { kind: 'failure', error, code, message: message.slice(0, 1000) };
}

/** Reports the verdict and ends the message: deleted once reported, visible again when released. */
async function settle(verdict: Verdict, task: TaskMessage, message: Message, deps: MessageDeps): Promise<void> {
  if (verdict.kind === 'release') {
    await deps.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
    deps.log.info('message.released');
    return;
  }
  if (verdict.kind !== 'abandon') await reportToWorkflow(verdict, task, deps);
  await deps.sqs.send(new DeleteMessageCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle }));
  deps.log.info('message.done', { outcome: verdict.kind === 'failure' ? verdict.error : verdict.kind });
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
    timer = setTimeout(() => void beat().finally(() => attempt.signal.aborted || schedule()), deps.heartbeatSeconds * 1000);
  };
  const beat = async () => {
    await Promise.all([
      ...keepAlive.map((keep) => keep(attempt)),
      abortIfJobEnded(task, deps, attempt),
      ...[...extraTasks].map((extraTask) => extraTask().catch((error: unknown) => deps.log.warn('heartbeat.task-failed', { error }))),
    ]);
  };
  // The first beat comes at once: after a crash, the token has waited since the last worker's beat.
  void beat().finally(() => attempt.signal.aborted || schedule());
  return {
    add: (extraTask) => {
      extraTasks.add(extraTask);
      return () => extraTasks.delete(extraTask);
    },
    stop: () => clearTimeout(timer),
  };
}

/** One heartbeat of the task token; `onGone` when the workflow no longer waits for it. */
export async function keepTokenAlive(task: TaskMessage, deps: Pick<MessageDeps, 'sfn' | 'log'>, onGone: () => void): Promise<void> {
  try {
    await deps.sfn.send(new SendTaskHeartbeatCommand({ taskToken: task.taskToken }));
  } catch (error) {
    if (isTaskGone(error)) onGone();
    else deps.log.warn('heartbeat.failed', { error });
  }
}

/** Three beats of invisibility: the message comes back soon after its worker dies. */
export function invisibleSeconds(heartbeatSeconds: number): number {
  return heartbeatSeconds * 3;
}


async function keepMessageInvisible(message: Message, deps: MessageDeps): Promise<void> {
  try {
    await deps.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: invisibleSeconds(deps.heartbeatSeconds) }),
    );
  } catch (error) {
    deps.log.warn('visibility.failed', { error });
  }
}

async function abortIfJobEnded(task: TaskMessage, deps: AttemptDeps, attempt: AbortController): Promise<void> {
  try {
    const job = await deps.store.get(task.jobId);
    if (job && isTerminal(job.status)) attempt.abort(AbortReason.cancelled);
  } catch (error) {
    deps.log.warn('job.read-failed', { error });
  }
}

/** Settles as soon as the signal aborts, without waiting for a robot that ignores it. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {}); // its rejection after an abort is expected and handled via the signal
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(`aborted: ${String(signal.reason)}`));
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

/** A short fingerprint that tells tokens apart in logs without revealing them. */
export function tokenRef(taskToken: string): string {
  return sha256Hex(taskToken).slice(0, 12);
}
