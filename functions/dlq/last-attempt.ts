import type { SFNClient } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTerminal } from '../../core/job';
import { settleFailure, settleSuccess } from '../../core/jobs';
import { deliverJobWebhook, WebhookDeliveryFailed, type WebhookDeliveryDeps } from '../../core/webhooks';
import { RobotErrorName } from '../../core/workflow-contract';
import {
  failureCause,
  keepTokenAlive,
  parseTask,
  reportToWorkflow,
  runJob,
  taskLogFields,
  tokenRef,
  type AttemptDeps,
  type StopSignals,
  type TaskMessage,
  type Verdict,
} from '../../runtime/handle-message';

/**
 * The DLQ reprocessor: a message the worker fleet received too often without finishing gets one
 * last attempt here, in another runtime (Lambda), with the same robot runtime as the worker:
 * item checkpoints are resumed, failed items leave evidence, the egress guard applies. The job
 * is settled through its task token, or directly in DynamoDB when the workflow has given up on
 * the token, so that it never stays RUNNING.
 */
export interface LastAttemptDeps extends AttemptDeps {
  sfn: SFNClient;
  sqs: SQSClient;
  /** The queue the records come from: a record stopped at the deadline is made visible again there. */
  deadLetterQueueUrl: string;
  /** Announces a job settled here directly, since the workflow that would have is gone. */
  webhooks: WebhookDeliveryDeps;
  /** Pause between those webhook attempts (the invocation cannot wait hours like the workflow). */
  webhookRetryDelaysMs: readonly number[];
}

/** Margins before the end of the invocation: draining lets the current item finish, stopping aborts it. */
export interface DeadlineMargins {
  drainMs: number;
  stopMs: number;
}

type RecordOutcome = 'done' | 'retry';

/** How often the remaining time is looked at: it also drops to 0 when a local host shuts down. */
const DEADLINE_CHECK_MS = 1_000;
const FORENSIC_BODY_CHARS = 2_000;

/**
 * One record at a time. A record is reported as a batch item failure only when it must come
 * back: stopped at the deadline (after its checkpoint) or an infrastructure error. A malformed
 * record is poison with nowhere left to go: it is logged for forensics and counted as processed.
 */
export async function reprocessDeadLetters(records: SQSRecord[], deps: LastAttemptDeps, remainingMs: () => number, margins: DeadlineMargins): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of records) {
    const log = deps.log.child({ messageId: record.messageId });
    const deadline = watchDeadline(remainingMs, margins);
    try {
      if ((await reprocessRecord(record, { ...deps, log }, deadline.signals)) === 'retry') batchItemFailures.push({ itemIdentifier: record.messageId });
    } catch (error) {
      log.error('dead-letter.failed', { error });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    } finally {
      deadline.dispose();
    }
  }
  return { batchItemFailures };
}

async function reprocessRecord(record: SQSRecord, deps: LastAttemptDeps, stop: StopSignals): Promise<RecordOutcome> {
  const task = parseTask(record.body);
  if (!task) {
    deps.log.error('dead-letter.malformed', { body: forensicBody(record.body), receiveCount: record.attributes.ApproximateReceiveCount });
    return 'done';
  }
  const log = deps.log.child(taskLogFields(task));
  // Too little time left to begin: the next invocation starts with the whole timeout.
  if (stop.draining.aborted) return release(record, { ...deps, log }, 'deadline');
  const job = await deps.store.get(task.jobId);
  if (!job || isTerminal(job.status)) {
    log.info('dead-letter.skipped', { status: job?.status ?? 'MISSING' });
    return 'done';
  }

  // A token the workflow gave up on (timeout, stopped execution) is noticed here or at a heartbeat;
  // the robot runs on either way, and its verdict then goes to DynamoDB instead.
  let workflowWaits = true;
  const onGone = () => {
    if (workflowWaits) log.warn('workflow.gone');
    workflowWaits = false;
  };
  const keepToken = () => (workflowWaits ? keepTokenAlive(task, { ...deps, log }, onGone) : Promise.resolve());
  await keepToken();
  log.info('last-attempt.started', { attempts: job.attempts, receiveCount: record.attributes.ApproximateReceiveCount });
  const verdict = await runJob(task, { ...deps, log }, stop, { runtime: 'lambda', keepAlive: [keepToken] });
  return settleLastAttempt(verdict, task, record, workflowWaits, { ...deps, log });
}

async function settleLastAttempt(verdict: Verdict, task: TaskMessage, record: SQSRecord, workflowWaits: boolean, deps: LastAttemptDeps): Promise<RecordOutcome> {
  if (verdict.kind === 'release' || verdict.kind === 'abandon') return release(record, deps, verdict.kind);
  const final = asFinal(verdict);
  if (workflowWaits && (await reportToWorkflow(final, task, deps))) {
    deps.log.info('last-attempt.reported', { outcome: final.kind === 'failure' ? final.error : final.kind });
    return 'done';
  }
  // One chunk's outcome is not the job's: its checkpoints stand, and the job ends with its workflow.
  if (task.chunk) {
    deps.log.warn('last-attempt.chunk-unreported', { outcome: final.kind === 'failure' ? final.error : final.kind });
    return 'done';
  }
  const job =
    final.kind === 'success'
      ? await settleSuccess(deps.store, { jobId: task.jobId, result: final.result })
      : await settleFailure(deps.store, { jobId: task.jobId, failure: { Error: final.error, Cause: failureCause(final) } });
  deps.log.info('last-attempt.settled-directly', { status: job.status });
  if (job.callbackUrl) await announceDirectSettlement(job.jobId, deps);
  return 'done';
}

/**
 * The workflow's NotifyWebhook step will not run for a job settled here, so the webhook is sent
 * from here: a few attempts within the invocation, the outcome recorded on the job either way.
 */
async function announceDirectSettlement(jobId: string, deps: LastAttemptDeps): Promise<void> {
  const maxAttempts = deps.webhookRetryDelaysMs.length + 1;
  for (const delayMs of [0, ...deps.webhookRetryDelaysMs]) {
    await sleep(delayMs);
    try {
      const delivery = await deliverJobWebhook(deps.webhooks, { jobId, maxAttempts });
      deps.log.info('last-attempt.webhook', { webhook: delivery?.status ?? 'NONE' });
      return;
    } catch (error) {
      if (!(error instanceof WebhookDeliveryFailed)) {
        deps.log.warn('last-attempt.webhook-failed', { error });
        return;
      }
    }
  }
}

/** Checkpointed: the next delivery resumes the job, at once rather than after the DLQ's visibility window. */
async function release(record: SQSRecord, deps: LastAttemptDeps, reason: string): Promise<RecordOutcome> {
  await deps.sqs
    .send(new ChangeMessageVisibilityCommand({ QueueUrl: deps.deadLetterQueueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: 0 }))
    .catch((error: unknown) => deps.log.warn('visibility.failed', { error }));
  deps.log.info('last-attempt.released', { reason });
  return 'retry';
}

/** This is the last attempt: a technical failure must not send the job back to the fleet through the workflow's retry. */
function asFinal(verdict: Extract<Verdict, { kind: 'success' | 'failure' }>): typeof verdict {
  return verdict.kind === 'failure' && verdict.error === RobotErrorName.technical ? { ...verdict, error: RobotErrorName.lastAttemptFailed } : verdict;
}

/** Drains, then stops, as the remaining time of the invocation runs below the margins. */
function watchDeadline(remainingMs: () => number, margins: DeadlineMargins): { signals: StopSignals; dispose(): void } {
  const draining = new AbortController();
  const stopping = new AbortController();
  const check = () => {
    const remaining = remainingMs();
    if (remaining <= margins.drainMs) draining.abort();
    if (remaining <= margins.stopMs) stopping.abort();
  };
  check();
  const timer = setInterval(check, DEADLINE_CHECK_MS);
  return { signals: { draining: draining.signal, stopping: stopping.signal }, dispose: () => clearInterval(timer) };
}

/** The body as far as it is useful to read, with task tokens replaced by their fingerprint. */
function forensicBody(body: string): string {
  return body.slice(0, FORENSIC_BODY_CHARS).replace(/("taskToken"\s*:\s*")([^"]*)"/g, (_match, key: string, token: string) => `${key}${tokenRef(token)}"`);
}
