import { S3Client } from '@aws-sdk/client-s3';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../core/job';
import { businessError, technicalError, type RobotDefinition } from '../../core/robot';
import { reprocessDeadLetters, type LastAttemptDeps } from '../../functions/dlq/last-attempt';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { fakeRuntimeDeps, idleSessions, recordingLogger, robotThat, type LogLine, attemptSettings } from '../support/robot-runtime-fakes';
import type { WebhookSender } from '../../core/webhooks';
import { MemoryWebhookSecretStore } from '../support/memory-webhook-secrets';

const JOB_ID = '6f1d8c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f';
const OTHER_JOB_ID = '7a2e9d2f-3b5c-4d4e-8f90-1b2c3d4e5f60';
const TOKEN = 'token-'.padEnd(600, 'x');
const DLQ_URL = 'https://sqs.local/robot-tasks-dlq';
const MARGINS = { drainMs: 120_000, stopMs: 30_000 };
const plentyOfTime = () => 600_000;

const sqs = mockClient(SQSClient);
const sfn = mockClient(SFNClient);
const s3 = mockClient(S3Client);
const logLines: LogLine[] = [];

let store: MemoryJobStore;
let sessionsOpened: number;

const succeeds = robotThat(async () => ({ status: 'SUCCEEDED' }));

function depsFor(robot: RobotDefinition): LastAttemptDeps {
  return {
    ...fakeRuntimeDeps(robot, { store, sessions: idleSessions(() => (sessionsOpened += 1)), log: recordingLogger(logLines) }),
    sqs: new SQSClient({}),
    sfn: new SFNClient({}),
    deadLetterQueueUrl: DLQ_URL,
    ...attemptSettings(20),
    webhooks: { jobs: store, items: new MemoryItemStore(), secrets: new MemoryWebhookSecretStore(), sender: receiver },
    webhookRetryDelaysMs: [1, 1],
  };
}

/** The callback receiver: answers each POST with the next status of `answers` (then 200). */
const posts: string[] = [];
let answers: number[] = [];
const receiver: WebhookSender = {
  post: async (url) => {
    posts.push(url);
    return { status: answers.shift() ?? 200 };
  },
};

const record = (body: unknown, messageId = 'm-1'): SQSRecord => ({
  messageId,
  receiptHandle: `receipt-${messageId}`,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0' },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:eu-west-1:111122223333:robot-tasks-dlq',
  awsRegion: 'eu-west-1',
});
const task = (jobId = JOB_ID) => record({ jobId, taskToken: TOKEN }, jobId === JOB_ID ? 'm-1' : 'm-2');

function seedJob(overrides: Partial<Job> = {}): void {
  void store.create(makeJob({ jobId: JOB_ID, robot: 'test-robot', status: 'RUNNING', attempts: 3, lastAttemptRuntime: 'fargate', input: {}, ...overrides }));
}

const taskGone = () => new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} });

beforeEach(() => {
  sqs.reset();
  sfn.reset();
  posts.length = 0;
  answers = [];
  s3.reset();
  logLines.length = 0;
  store = new MemoryJobStore();
  sessionsOpened = 0;
});

afterEach(() => {
  vi.useRealTimers();
});

describe('DLQ reprocessor', () => {
  it('does nothing for a job that has already ended', async () => {
    seedJob({ status: 'CANCELLED' });

    const response = await reprocessDeadLetters([task()], depsFor(succeeds), plentyOfTime, MARGINS);

    expect(response.batchItemFailures).toEqual([]);
    expect(sfn.calls()).toHaveLength(0);
    expect(sessionsOpened).toBe(0);
    expect(await store.get(JOB_ID)).toMatchObject({ status: 'CANCELLED', attempts: 3 });
  });

  it('runs the last attempt in the Lambda runtime and settles it through the task token', async () => {
    seedJob();

    const response = await reprocessDeadLetters([task()], depsFor(succeeds), plentyOfTime, MARGINS);

    expect(response.batchItemFailures).toEqual([]);
    expect(sfn.commandCalls(SendTaskHeartbeatCommand)[0]?.args[0].input).toEqual({ taskToken: TOKEN });
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input).toEqual({ taskToken: TOKEN, output: JSON.stringify({ status: 'SUCCEEDED', artifactCount: 0 }) });
    // The workflow's FinalizeJob settles it; here it is only the fourth attempt, run in Lambda.
    expect(await store.get(JOB_ID)).toMatchObject({ status: 'RUNNING', attempts: 4, lastAttemptRuntime: 'lambda' });
  });

  it('settles the job directly in DynamoDB when the workflow has already given up on the token', async () => {
    seedJob();
    sfn.on(SendTaskHeartbeatCommand).rejects(taskGone());

    const response = await reprocessDeadLetters([task()], depsFor(succeeds), plentyOfTime, MARGINS);

    expect(response.batchItemFailures).toEqual([]);
    expect(sessionsOpened).toBe(1);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(await store.get(JOB_ID)).toMatchObject({ status: 'SUCCEEDED', attempts: 4, lastAttemptRuntime: 'lambda' });
  });

  it('announces a job it settled directly, since the workflow that would have is gone', async () => {
    seedJob({ callbackUrl: 'https://hooks.example.com/roboport' });
    sfn.on(SendTaskHeartbeatCommand).rejects(taskGone());
    answers = [500];

    await reprocessDeadLetters([task()], depsFor(succeeds), plentyOfTime, MARGINS);

    expect(posts).toEqual(['https://hooks.example.com/roboport', 'https://hooks.example.com/roboport']);
    expect((await store.get(JOB_ID))?.webhook).toMatchObject({ status: 'DELIVERED', attempts: 2 });
  });

  it('records a webhook that still failed after its last attempt, and the job stays settled', async () => {
    seedJob({ callbackUrl: 'https://hooks.example.com/roboport' });
    sfn.on(SendTaskHeartbeatCommand).rejects(taskGone());
    answers = [500, 502, 503];

    const response = await reprocessDeadLetters([task()], depsFor(succeeds), plentyOfTime, MARGINS);

    expect(response.batchItemFailures).toEqual([]);
    expect(posts).toHaveLength(3);
    expect(await store.get(JOB_ID)).toMatchObject({ status: 'SUCCEEDED', webhook: { status: 'FAILED', attempts: 3, lastError: 'receiver answered HTTP 503' } });
  });

  it('settles a failure directly when the token is gone at report time, with the error the FailJob step would record', async () => {
    seedJob();
    sfn.on(SendTaskFailureCommand).rejects(Object.assign(new Error('Invalid token'), { name: 'InvalidToken' }));

    await reprocessDeadLetters([task()], depsFor(robotThat(async () => Promise.reject(businessError('PAGE_NOT_FOUND', 'HTTP 404')))), plentyOfTime, MARGINS);

    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(1);
    expect(await store.get(JOB_ID)).toMatchObject({ status: 'FAILED', error: { type: 'BUSINESS', code: 'PAGE_NOT_FOUND', message: 'HTTP 404' } });
  });

  it('reports a technical failure as final, so that the workflow does not send the job back to the fleet', async () => {
    seedJob();

    await reprocessDeadLetters([task()], depsFor(robotThat(async () => Promise.reject(technicalError('PORTAL_DOWN', 'HTTP 503')))), plentyOfTime, MARGINS);

    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toEqual({
      taskToken: TOKEN,
      error: 'Robot.LastAttemptFailed',
      cause: JSON.stringify({ code: 'PORTAL_DOWN', message: 'HTTP 503' }),
    });
  });

  it('counts a malformed message as processed and logs it for forensics without its token', async () => {
    const poison = record(`{"jobId": 42, "taskToken": "${TOKEN}"}`, 'poison-1');

    const response = await reprocessDeadLetters([poison, record('not json', 'poison-2')], depsFor(succeeds), plentyOfTime, MARGINS);

    expect(response.batchItemFailures).toEqual([]);
    expect(sfn.calls()).toHaveLength(0);
    const malformed = logLines.filter((line) => line.event === 'dead-letter.malformed');
    expect(malformed.map((line) => line.fields?.messageId)).toEqual(['poison-1', 'poison-2']);
    expect(malformed[0]?.fields?.body).toContain('"jobId": 42');
    expect(JSON.stringify(logLines)).not.toContain(TOKEN.slice(0, 40));
  });

  it('reports only the records that must come back as batch item failures', async () => {
    seedJob();
    const deps = depsFor(succeeds);
    const get = store.get.bind(store);
    vi.spyOn(store, 'get').mockImplementation(async (jobId) => (jobId === OTHER_JOB_ID ? Promise.reject(new Error('DynamoDB unavailable')) : get(jobId)));

    const response = await reprocessDeadLetters([task(OTHER_JOB_ID), task()], deps, plentyOfTime, MARGINS);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-2' }]);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('stops before the deadline, hands the record back at once and reports nothing', async () => {
    vi.useFakeTimers();
    seedJob();
    let remaining = 600_000;
    let robotStarted!: () => void;
    const started = new Promise<void>((resolve) => (robotStarted = resolve));
    const hangs = robotThat(async () => (robotStarted(), new Promise(() => {})));

    const reprocessing = reprocessDeadLetters([task()], depsFor(hangs), () => remaining, MARGINS);
    await started;
    remaining = 20_000;
    await vi.advanceTimersByTimeAsync(1_000);
    const response = await reprocessing;

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)[0]?.args[0].input).toEqual({ QueueUrl: DLQ_URL, ReceiptHandle: 'receipt-m-1', VisibilityTimeout: 0 });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    expect(await store.get(JOB_ID)).toMatchObject({ status: 'RUNNING' });
  });

  it('keeps heartbeating the token while the robot runs', async () => {
    vi.useFakeTimers();
    seedJob();
    let finish!: () => void;
    let robotStarted!: () => void;
    const started = new Promise<void>((resolve) => (robotStarted = resolve));
    const slow = robotThat(async () => (robotStarted(), new Promise((resolve) => (finish = () => resolve({ status: 'SUCCEEDED' })))));

    const reprocessing = reprocessDeadLetters([task()], depsFor(slow), plentyOfTime, MARGINS);
    await started;
    await vi.advanceTimersByTimeAsync(45_000);
    finish();
    await reprocessing;

    // The probe before the robot, the attempt's first beat at once, then one every 20 s.
    expect(sfn.commandCalls(SendTaskHeartbeatCommand)).toHaveLength(4);
  });
});
