import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskTimedOut,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { buildJobWorkflowDefinition } from '../../core/workflow-definition';
import { RobotErrorName, type FailInput, type FinalizeInput, type RobotTaskMessage } from '../../core/workflow-contract';
import { ensureRobotQueue, startLocalSqs } from '../../local/emulators/sqs';
import { startLocalStepFunctions } from '../../local/emulators/step-functions';
import { pollUntil } from '../../local/emulators/poll';

const clientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:roboport-test';
const FINALIZE_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:finalize-job';
const FAIL_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:fail-job';
const NOTIFY_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:notify-webhook';
const PLAN_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:plan-job';
/** Jobs whose id starts with this fan out in three chunks; the others run as one task. */
const FAN_OUT_PREFIX = 'job-fan-out';

/** RunRobot's TimeoutSeconds here: short, so that the backstop can be watched firing. */
const BACKSTOP_SECONDS = 3;

describe('local Step Functions running the job workflow', () => {
  let sqsEmulator: Awaited<ReturnType<typeof startLocalSqs>>;
  let stepFunctions: Awaited<ReturnType<typeof startLocalStepFunctions>>;
  let sqs: SQSClient;
  let sfn: SFNClient;
  let queueUrl: string;
  const finalized: FinalizeInput[] = [];
  const failed: FailInput[] = [];

  beforeAll(async () => {
    sqsEmulator = await startLocalSqs();
    sqs = new SQSClient(clientConfig(sqsEmulator.endpoint));
    ({ queueUrl } = await ensureRobotQueue(sqs, 'robot'));
    const definition = buildJobWorkflowDefinition({
      queueUrl,
      planFunctionArn: PLAN_ARN,
      chunkConcurrency: 2,
      finalizeFunctionArn: FINALIZE_ARN,
      failFunctionArn: FAIL_ARN,
      taskBackstopSeconds: BACKSTOP_SECONDS,
      technicalRetry: { maxAttempts: 2, intervalSeconds: 1, backoffRate: 1 },
      notifyWebhookFunctionArn: NOTIFY_ARN,
      webhookRetry: { maxAttempts: 2, intervalSeconds: 1, backoffRate: 1, maxDelaySeconds: 1 },
    });
    stepFunctions = await startLocalStepFunctions({
      definition,
      stateMachineArn: STATE_MACHINE_ARN,
      sqs,
      lambdaHandlers: {
        [PLAN_ARN]: async (payload) => {
          const { jobId } = payload as { jobId: string };
          const fanOut = jobId.startsWith(FAN_OUT_PREFIX);
          return { jobId, fanOut, chunks: fanOut ? [0, 1, 2] : [], chunkSize: 10 };
        },
        [FINALIZE_ARN]: async (payload) => {
          finalized.push(payload as FinalizeInput);
          return { jobId: (payload as FinalizeInput).jobId, settled: 'SUCCEEDED' };
        },
        [FAIL_ARN]: async (payload) => {
          failed.push(payload as FailInput);
          return { settled: 'FAILED' };
        },
      },
    });
    sfn = new SFNClient(clientConfig(stepFunctions.endpoint));
  });

  afterAll(async () => {
    sfn.destroy();
    sqs.destroy();
    await stepFunctions.close();
    await sqsEmulator.close();
  });

  async function startJob(jobId: string): Promise<string> {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: jobId, input: JSON.stringify({ jobId }) }),
    );
    return executionArn!;
  }

  /** The fake worker's side: take the robot task message for this job off the queue. */
  async function receiveTask(jobId: string): Promise<RobotTaskMessage> {
    return pollUntil(
      async () => {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
        const message = Messages[0];
        if (!message) return undefined;
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
        const task = JSON.parse(message.Body!) as RobotTaskMessage;
        expect(task.jobId).toBe(jobId);
        return task;
      },
      { timeoutMs: 5_000, description: `the robot task of ${jobId}` },
    );
  }

  /** Every task message still in the queue (this job's only: the tests run one after another). */
  async function drainTasks(jobId: string): Promise<RobotTaskMessage[]> {
    const tasks: RobotTaskMessage[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0, MaxNumberOfMessages: 10 }));
      if (Messages.length === 0) return tasks;
      for (const message of Messages) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
        const task = JSON.parse(message.Body!) as RobotTaskMessage;
        expect(task.jobId).toBe(jobId);
        tasks.push(task);
      }
    }
  }

  async function finishedExecution(executionArn: string): Promise<DescribeExecutionCommandOutput> {
    return pollUntil(
      async () => {
        const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        return execution.status === 'RUNNING' ? undefined : execution;
      },
      { timeoutMs: 10_000, description: `execution ${executionArn} to finish` },
    );
  }

  const robotResult = { status: 'SUCCEEDED', artifactCount: 1 };

  it('finalizes the job when the worker reports success', async () => {
    const executionArn = await startJob('job-success');
    const { taskToken } = await receiveTask('job-success');
    expect(taskToken).toMatch(/^local-task-/);
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(robotResult) }));

    const execution = await finishedExecution(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toEqual({ jobId: 'job-success', settled: 'SUCCEEDED' });
    expect(finalized).toContainEqual({ jobId: 'job-success', result: robotResult });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('retries a Robot.Technical failure with a new task token, then succeeds', async () => {
    const executionArn = await startJob('job-retry');
    const first = await receiveTask('job-retry');
    await sfn.send(new SendTaskFailureCommand({ taskToken: first.taskToken, error: RobotErrorName.technical, cause: 'browser crashed' }));
    const second = await receiveTask('job-retry');
    expect(second.taskToken).not.toBe(first.taskToken);
    await sfn.send(new SendTaskSuccessCommand({ taskToken: second.taskToken, output: JSON.stringify(robotResult) }));

    expect((await finishedExecution(executionArn)).status).toBe('SUCCEEDED');
    expect(finalized).toContainEqual({ jobId: 'job-retry', result: robotResult });
  });

  it('fails the job with the worker error when a business failure is reported', async () => {
    const executionArn = await startJob('job-business');
    const { taskToken } = await receiveTask('job-business');
    await sfn.send(new SendTaskFailureCommand({ taskToken, error: RobotErrorName.business, cause: 'login rejected' }));

    const execution = await finishedExecution(executionArn);
    expect(execution).toMatchObject({ status: 'FAILED', error: 'JobFailed' });
    expect(failed).toContainEqual({ jobId: 'job-business', failure: { Error: RobotErrorName.business, Cause: 'login rejected' } });
  });

  it('keeps a silent task waiting (no heartbeat timeout) until the backstop, then fails it with States.Timeout', async () => {
    const started = Date.now();
    const executionArn = await startJob('job-silent');
    const { taskToken } = await receiveTask('job-silent');
    // A message may wait in the queue or with a dying worker for longer than any beat: the token still waits.
    await pollUntil(async () => (Date.now() - started > (BACKSTOP_SECONDS * 1000) / 2 ? true : undefined), { timeoutMs: 5_000, intervalMs: 100, description: 'half the backstop' });
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));

    expect((await finishedExecution(executionArn)).status).toBe('FAILED');
    expect(Date.now() - started).toBeGreaterThanOrEqual(BACKSTOP_SECONDS * 1000 - 100);
    expect(failed.find((input) => input.jobId === 'job-silent')?.failure.Error).toBe('States.Timeout');
    await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('fans an item job out: one task per chunk (at most chunkConcurrency at once), a chunk retried alone, then the finish task', async () => {
    const jobId = `${FAN_OUT_PREFIX}-1`;
    const executionArn = await startJob(jobId);
    // MaxConcurrency 2: two chunk tasks are out, the third waits for one of them.
    const first = await receiveTask(jobId);
    const second = await receiveTask(jobId);
    expect([first.chunk, second.chunk]).toEqual(expect.arrayContaining([{ index: 0, size: 10 }, { index: 1, size: 10 }]));
    await sfn.send(new SendTaskFailureCommand({ taskToken: first.taskToken, error: RobotErrorName.technical, cause: 'portal 503' }));
    const retried = await receiveTask(jobId);
    expect(retried.chunk).toEqual(first.chunk);
    for (const task of [second, retried]) await sfn.send(new SendTaskSuccessCommand({ taskToken: task.taskToken, output: JSON.stringify(robotResult) }));
    const third = await receiveTask(jobId);
    expect(third.chunk).toEqual({ index: 2, size: 10 });
    await sfn.send(new SendTaskSuccessCommand({ taskToken: third.taskToken, output: JSON.stringify(robotResult) }));

    const finish = await receiveTask(jobId);
    expect(finish).toMatchObject({ jobId, finish: true });
    expect(finish.chunk).toBeUndefined();
    await sfn.send(new SendTaskSuccessCommand({ taskToken: finish.taskToken, output: JSON.stringify({ status: 'PARTIAL', artifactCount: 2 }) }));
    expect((await finishedExecution(executionArn)).status).toBe('SUCCEEDED');
    expect(finalized).toContainEqual({ jobId, result: { status: 'PARTIAL', artifactCount: 2 } });
  });

  it('ends the whole fan-out when a chunk reports a cancellation, without a finish task', async () => {
    const jobId = `${FAN_OUT_PREFIX}-2`;
    const executionArn = await startJob(jobId);
    const task = await receiveTask(jobId);
    await sfn.send(new SendTaskFailureCommand({ taskToken: task.taskToken, error: RobotErrorName.cancelled, cause: 'cancelled' }));
    expect((await finishedExecution(executionArn)).status).toBe('FAILED');
    expect(failed.find((input) => input.jobId === jobId)?.failure.Error).toBe(RobotErrorName.cancelled);
    // The other chunks' tasks were sent before the cancellation; their tokens are no longer waited for.
    const leftovers = await drainTasks(jobId);
    expect(leftovers.length).toBeGreaterThan(0);
    for (const other of leftovers) {
      await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: other.taskToken, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
    }
  });

  it('makes StartExecution idempotent by name and input, and stops executions', async () => {
    const executionArn = await startJob('job-twice');
    expect(await startJob('job-twice')).toBe(executionArn);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'job-twice', input: '{"jobId":"other"}' })),
    ).rejects.toBeInstanceOf(ExecutionAlreadyExists);

    const { taskToken } = await receiveTask('job-twice');
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Cancelled', cause: 'user cancelled' }));
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(execution).toMatchObject({ status: 'ABORTED', error: 'Cancelled', cause: 'user cancelled' });
    expect(execution.stopDate).toBeInstanceOf(Date);
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: 'garbage', output: '{}' }))).rejects.toBeInstanceOf(InvalidToken);
    expect(failed.some((input) => input.jobId === 'job-twice')).toBe(false);
  });
});

describe('closing the local Step Functions', () => {
  it('leaves no timers behind while a task is still waiting for its token', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
    const sqsEmulator = await startLocalSqs();
    const sqs = new SQSClient(clientConfig(sqsEmulator.endpoint));
    const { queueUrl } = await ensureRobotQueue(sqs, 'robot');
    const timersBefore = timers();
    const stepFunctions = await startLocalStepFunctions({
      definition: buildJobWorkflowDefinition({
        queueUrl,
        planFunctionArn: PLAN_ARN,
        chunkConcurrency: 2,
        finalizeFunctionArn: FINALIZE_ARN,
        failFunctionArn: FAIL_ARN,
        taskBackstopSeconds: 600,
        technicalRetry: { maxAttempts: 2, intervalSeconds: 1, backoffRate: 1 },
        notifyWebhookFunctionArn: NOTIFY_ARN,
        webhookRetry: { maxAttempts: 2, intervalSeconds: 1, backoffRate: 1, maxDelaySeconds: 1 },
      }),
      stateMachineArn: STATE_MACHINE_ARN,
      sqs,
      lambdaHandlers: { [PLAN_ARN]: async () => ({ jobId: 'waiting', fanOut: false, chunks: [], chunkSize: 10 }) },
    });
    const sfn = new SFNClient(clientConfig(stepFunctions.endpoint));
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'waiting', input: '{"jobId":"waiting"}' }));
    await pollUntil(async () => ((await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }))).Messages ? true : undefined), {
      description: 'the task message',
    });
    expect(timers()).toBeGreaterThan(timersBefore);

    sfn.destroy();
    await stepFunctions.close();
    // At most the timers from before: unrelated ones (e.g. the SDK's) may have ended meanwhile.
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    sqs.destroy();
    await sqsEmulator.close();
  });
});
