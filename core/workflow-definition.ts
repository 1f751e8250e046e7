import { RobotErrorName, WEBHOOK_DELIVERY_FAILED } from './workflow-contract';

/**
 * The job workflow as Amazon States Language. It exists once: the CDK workflow construct
 * deploys it (with CloudFormation tokens as parameters) and the local stack executes it with
 * aws-local-stepfunctions (with local URLs/ARNs as parameters).
 *
 *   PlanJob (Lambda: writes the items, splits them into chunks of chunkSize)
 *     ├─ no items ─► RunRobot (SQS .waitForTaskToken: the whole job) ───────────────┐
 *     └─ items ───► RunChunks (Map, MaxConcurrency chunkConcurrency):                │
 *                     RunChunk (SQS .waitForTaskToken: one chunk, retried alone)     │
 *                   ─► FinishJob (SQS .waitForTaskToken: manifest, outcome) ─────────┤
 *     success ─► FinalizeJob (Lambda: SUCCEEDED | PARTIAL) ─► [callback?] NotifyWebhook ─► Done
 *     any error ► FailJob (Lambda: FAILED | TIMED_OUT | CANCELLED) ─► [callback?] NotifyWebhook ─► JobFailed
 *
 * Robot tasks retry Robot.Technical with backoff and time out only at the backstop. A chunk that
 * still fails technically gives up alone (its items stay unfinished, the job ends PARTIAL or
 * FAILED from its items); any other chunk error (cancelled, timed out, business) ends the job.
 *
 * RunRobot has no HeartbeatSeconds: the queue keeps the robot's liveness (core/delivery.ts), so
 * time spent waiting for a worker never fails a job.
 * NotifyWebhook (Lambda) makes one delivery attempt; a failed one raises Webhook.DeliveryFailed,
 * retried with capped exponential backoff and full jitter for hours. Each path has its own
 * Choice + NotifyWebhook pair so that the failure path still ends in the Fail state.
 */
export interface JobWorkflowParams {
  queueUrl: string;
  finalizeFunctionArn: string;
  failFunctionArn: string;
  /**
   * RunRobot's TimeoutSeconds: only for a message the queue no longer holds (core/delivery.ts
   * TASK_BACKSTOP_SECONDS). A job's own bound is enforced by the worker.
   */
  taskBackstopSeconds: number;
  technicalRetry: { maxAttempts: number; intervalSeconds: number; backoffRate: number };
  planFunctionArn: string;
  /** Chunks of one job that run at once (across the fleet). */
  chunkConcurrency: number;
  notifyWebhookFunctionArn: string;
  webhookRetry: WebhookRetry;
}

/** Retries after a failed webhook attempt: wait min(interval × rate^n, maxDelay), jittered. */
export interface WebhookRetry {
  maxAttempts: number;
  intervalSeconds: number;
  backoffRate: number;
  maxDelaySeconds: number;
}

/** 12 retries at 30 s, 1, 2, 4, 8, 16, 32 min, then hourly: the last one ~6 h after the first attempt (~3 h with jitter). */
export const DEFAULT_WEBHOOK_RETRY: WebhookRetry = { maxAttempts: 12, intervalSeconds: 30, backoffRate: 2, maxDelaySeconds: 3600 };

export const WORKFLOW_STATES = {
  planJob: 'PlanJob',
  fanOutChoice: 'HasItems',
  runChunks: 'RunChunks',
  runChunk: 'RunChunk',
  chunkGaveUp: 'ChunkGaveUp',
  finishJob: 'FinishJob',
  runRobot: 'RunRobot',
  finalizeJob: 'FinalizeJob',
  failJob: 'FailJob',
  jobFailed: 'JobFailed',
  callbackAfterFinalize: 'HasCallbackAfterFinalize',
  notifyAfterFinalize: 'NotifyWebhookAfterFinalize',
  done: 'Done',
  callbackAfterFail: 'HasCallbackAfterFail',
  notifyAfterFail: 'NotifyWebhookAfterFail',
} as const;

/** Retries for transient Lambda errors, as AWS recommends for every lambda:invoke task. */
const LAMBDA_SERVICE_RETRY = {
  ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
};

export function buildJobWorkflowDefinition(params: JobWorkflowParams) {
  const catchToFailJob = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: WORKFLOW_STATES.failJob }];
  return {
    Comment: 'Roboport job: hand the job (or its chunks) to the robot fleet, wait for the reports, settle the job.',
    StartAt: WORKFLOW_STATES.planJob,
    States: {
      [WORKFLOW_STATES.planJob]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: params.planFunctionArn, Payload: { 'jobId.$': '$.jobId' } },
        OutputPath: '$.Payload',
        Retry: [LAMBDA_SERVICE_RETRY],
        Catch: catchToFailJob,
        Next: WORKFLOW_STATES.fanOutChoice,
      },
      [WORKFLOW_STATES.fanOutChoice]: {
        Type: 'Choice',
        Choices: [{ Variable: '$.fanOut', BooleanEquals: true, Next: WORKFLOW_STATES.runChunks }],
        Default: WORKFLOW_STATES.runRobot,
      },
      [WORKFLOW_STATES.runRobot]: {
        ...robotTask(params, { 'jobId.$': '$.jobId' }),
        ResultPath: '$.result',
        Catch: catchToFailJob,
        Next: WORKFLOW_STATES.finalizeJob,
      },
      [WORKFLOW_STATES.runChunks]: {
        Type: 'Map',
        ItemsPath: '$.chunks',
        ItemSelector: { 'jobId.$': '$.jobId', 'chunk.$': '$$.Map.Item.Value', 'chunkSize.$': '$.chunkSize' },
        MaxConcurrency: params.chunkConcurrency,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: WORKFLOW_STATES.runChunk,
          States: {
            [WORKFLOW_STATES.runChunk]: {
              ...robotTask(params, { 'jobId.$': '$.jobId', chunk: { 'index.$': '$.chunk', 'size.$': '$.chunkSize' } }),
              // The iteration's output is dropped (ResultPath null below): nothing grows with the chunk count.
              ResultPath: null,
              // A technical failure that outlived the retries, or the DLQ reprocessor's last attempt of the chunk.
              Catch: [{ ErrorEquals: [RobotErrorName.technical, RobotErrorName.lastAttemptFailed], ResultPath: null, Next: WORKFLOW_STATES.chunkGaveUp }],
              End: true,
            },
            // Its items stay unfinished: FinishJob counts them, and a retry of the job picks them up.
            [WORKFLOW_STATES.chunkGaveUp]: { Type: 'Pass', End: true },
          },
        },
        ResultPath: null,
        Catch: catchToFailJob,
        Next: WORKFLOW_STATES.finishJob,
      },
      [WORKFLOW_STATES.finishJob]: {
        ...robotTask(params, { 'jobId.$': '$.jobId', finish: true }),
        ResultPath: '$.result',
        Catch: catchToFailJob,
        Next: WORKFLOW_STATES.finalizeJob,
      },
      [WORKFLOW_STATES.finalizeJob]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: {
          FunctionName: params.finalizeFunctionArn,
          Payload: { 'jobId.$': '$.jobId', 'result.$': '$.result' },
        },
        OutputPath: '$.Payload',
        Retry: [LAMBDA_SERVICE_RETRY],
        Next: WORKFLOW_STATES.callbackAfterFinalize,
      },
      ...webhookStates(params, WORKFLOW_STATES.callbackAfterFinalize, WORKFLOW_STATES.notifyAfterFinalize, WORKFLOW_STATES.done),
      [WORKFLOW_STATES.done]: { Type: 'Succeed' },
      [WORKFLOW_STATES.failJob]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: {
          FunctionName: params.failFunctionArn,
          Payload: { 'jobId.$': '$.jobId', 'failure.$': '$.failure' },
        },
        OutputPath: '$.Payload',
        Retry: [LAMBDA_SERVICE_RETRY],
        Next: WORKFLOW_STATES.callbackAfterFail,
      },
      ...webhookStates(params, WORKFLOW_STATES.callbackAfterFail, WORKFLOW_STATES.notifyAfterFail, WORKFLOW_STATES.jobFailed),
      [WORKFLOW_STATES.jobFailed]: {
        Type: 'Fail',
        Error: 'JobFailed',
        Cause: 'The robot did not complete the job; the job record holds the reason.',
      },
    },
  };
}

/** A robot task: the message (with its task token) to the robot queue, retried on technical failures. */
function robotTask(params: JobWorkflowParams, body: Record<string, unknown>) {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
    Parameters: { QueueUrl: params.queueUrl, MessageBody: { ...body, 'taskToken.$': '$$.Task.Token' } },
    TimeoutSeconds: params.taskBackstopSeconds,
    Retry: [
      {
        ErrorEquals: [RobotErrorName.technical],
        IntervalSeconds: params.technicalRetry.intervalSeconds,
        MaxAttempts: params.technicalRetry.maxAttempts,
        BackoffRate: params.technicalRetry.backoffRate,
      },
    ],
  };
}

/**
 * After a settle step (its output is a SettleOutput): a Choice on `hasCallback`, then the
 * NotifyWebhook task, then `next`. The task's result is dropped so `next` sees the settled job;
 * an error that outlives the retries is caught, since a webhook never changes how the job ended.
 */
function webhookStates(params: JobWorkflowParams, choiceState: string, notifyState: string, next: string) {
  const { webhookRetry } = params;
  return {
    [choiceState]: {
      Type: 'Choice',
      // IsPresent first: a BooleanEquals on a missing field is a runtime error, not a false.
      Choices: [{ And: [{ Variable: '$.hasCallback', IsPresent: true }, { Variable: '$.hasCallback', BooleanEquals: true }], Next: notifyState }],
      Default: next,
    },
    [notifyState]: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: {
        FunctionName: params.notifyWebhookFunctionArn,
        Payload: { 'jobId.$': '$.jobId', maxAttempts: webhookRetry.maxAttempts + 1 },
      },
      ResultPath: null,
      Retry: [
        LAMBDA_SERVICE_RETRY,
        {
          ErrorEquals: [WEBHOOK_DELIVERY_FAILED],
          IntervalSeconds: webhookRetry.intervalSeconds,
          BackoffRate: webhookRetry.backoffRate,
          MaxAttempts: webhookRetry.maxAttempts,
          MaxDelaySeconds: webhookRetry.maxDelaySeconds,
          JitterStrategy: 'FULL',
        },
      ],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.webhookError', Next: next }],
      Next: next,
    },
  };
}
