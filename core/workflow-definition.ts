import { RobotErrorName } from './workflow-contract';

/**
 * The job workflow as Amazon States Language. It exists once: the CDK workflow construct
 * deploys it (with CloudFormation tokens as parameters) and the local stack executes it with
 * aws-local-stepfunctions (with local URLs/ARNs as parameters).
 *
 *   RunRobot (SQS .waitForTaskToken, heartbeat + timeout, retry Robot.Technical with backoff)
 *     ├─ success ─► FinalizeJob (Lambda: SUCCEEDED | PARTIAL) ─► end
 *     └─ any error ► FailJob (Lambda: FAILED | TIMED_OUT | CANCELLED) ─► JobFailed
 */
export interface JobWorkflowParams {
  queueUrl: string;
  finalizeFunctionArn: string;
  failFunctionArn: string;
  /** The worker must heartbeat at least this often, or the attempt is lost. */
  heartbeatSeconds: number;
  /** Upper bound for one robot attempt. */
  timeoutSeconds: number;
  technicalRetry: { maxAttempts: number; intervalSeconds: number; backoffRate: number };
}

export const WORKFLOW_STATES = {
  runRobot: 'RunRobot',
  finalizeJob: 'FinalizeJob',
  failJob: 'FailJob',
  jobFailed: 'JobFailed',
} as const;

/** Retries for transient Lambda errors, as AWS recommends for every lambda:invoke task. */
const LAMBDA_SERVICE_RETRY = {
  ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
};

export function buildJobWorkflowDefinition(params: JobWorkflowParams) {
  return {
    Comment: 'Roboport job: hand the job to the robot fleet, wait for its report, settle the job.',
    StartAt: WORKFLOW_STATES.runRobot,
    States: {
      [WORKFLOW_STATES.runRobot]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: {
          QueueUrl: params.queueUrl,
          MessageBody: { 'jobId.$': '$.jobId', 'taskToken.$': '$$.Task.Token' },
        },
        HeartbeatSeconds: params.heartbeatSeconds,
        TimeoutSeconds: params.timeoutSeconds,
        ResultPath: '$.result',
        Retry: [
          {
            ErrorEquals: [RobotErrorName.technical],
            IntervalSeconds: params.technicalRetry.intervalSeconds,
            MaxAttempts: params.technicalRetry.maxAttempts,
            BackoffRate: params.technicalRetry.backoffRate,
          },
        ],
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: WORKFLOW_STATES.failJob }],
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
        End: true,
      },
      [WORKFLOW_STATES.failJob]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: {
          FunctionName: params.failFunctionArn,
          Payload: { 'jobId.$': '$.jobId', 'failure.$': '$.failure' },
        },
        OutputPath: '$.Payload',
        Retry: [LAMBDA_SERVICE_RETRY],
        Next: WORKFLOW_STATES.jobFailed,
      },
      [WORKFLOW_STATES.jobFailed]: {
        Type: 'Fail',
        Error: 'JobFailed',
        Cause: 'The robot did not complete the job; the job record holds the reason.',
      },
    },
  };
}
