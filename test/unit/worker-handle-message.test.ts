import { createHash } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../core/job';
import { businessError, type ItemRobot, type RobotDefinition } from '../../core/robot';
import { handleMessage, type MessageDeps } from '../../runtime/handle-message';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore } from '../support/memory-job-store';
import { MemoryPortalLeases, attemptSettings, fakeRuntimeDeps, keysRobot, idleSessions, recordingLogger, robotThat, type LogLine } from '../support/robot-runtime-fakes';

const JOB_ID = '6f1d8c1e-2a4b-4c3d-9e8f-0a1b2c3d4e5f';
const TOKEN = 'token-'.padEnd(600, 'x');

const sqs = mockClient(SQSClient);
const sfn = mockClient(SFNClient);
const s3 = mockClient(S3Client);
const logLines: LogLine[] = [];

let store: MemoryJobStore;
let items: MemoryItemStore;
let closedSessions: number;

function depsFor(robot: RobotDefinition): MessageDeps {
  return {
    ...fakeRuntimeDeps(robot, { store, items, sessions: idleSessions(undefined, () => (closedSessions += 1)), log: recordingLogger(logLines) }),
    sqs: new SQSClient({}),
    sfn: new SFNClient({}),
    queueUrl: 'https://sqs.local/robot-tasks',
    ...attemptSettings(20),
  };
}

const message = (body: unknown = { jobId: JOB_ID, taskToken: TOKEN }): Message => ({
  MessageId: 'm-1',
  ReceiptHandle: 'receipt-1',
  Body: typeof body === 'string' ? body : JSON.stringify(body),
});

function jobRecord(status: Job['status'], input: Record<string, unknown> = {}): Job {
  const now = '2025-01-01T00:00:00.000Z';
  return { jobId: JOB_ID, owner: 'u1', robot: 'test-robot', status, input, attempts: 0, createdAt: now, updatedAt: now, artifacts: [], requestHash: 'h' };
}

function seedJob(status: Job['status'], input: Record<string, unknown> = {}): void {
  void store.create(jobRecord(status, input));
}

/** A robot that never finishes, and a promise that resolves once it has started. */
function hangingRobot(): { robot: RobotDefinition; started: Promise<void> } {
  let robotStarted!: () => void;
  const started = new Promise<void>((resolve) => (robotStarted = resolve));
  return { robot: robotThat(async () => (robotStarted(), new Promise(() => {}))), started };
}

/** An item robot over input.keys; `onItem` runs inside each item. */
function itemRobotThat(onItem: (key: string) => Promise<void>): ItemRobot<{ keys: string[] }> {
  return keysRobot({ name: 'test-robot', processItem: async (_context, { key }) => (await onItem(key), {}) });
}

const neverStops = { draining: new AbortController().signal, stopping: new AbortController().signal };

beforeEach(() => {
  sqs.reset();
  sfn.reset();
  s3.reset();
  logLines.length = 0;
  store = new MemoryJobStore();
  items = new MemoryItemStore();
  closedSessions = 0;
});

afterEach(() => {
  vi.useRealTimers();
});

describe('handleMessage', () => {
  it('reports a job cancelled before it ran as Robot.Cancelled and deletes the message', async () => {
    seedJob('CANCELLED');
    let ran = false;
    await handleMessage(message(), depsFor(robotThat(async () => ((ran = true), { status: 'SUCCEEDED' }))), neverStops);

    expect(ran).toBe(false);
    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toMatchObject({ taskToken: TOKEN, error: 'Robot.Cancelled' });
    expect(sqs.commandCalls(DeleteMessageCommand)[0]?.args[0].input).toEqual({ QueueUrl: 'https://sqs.local/robot-tasks', ReceiptHandle: 'receipt-1' });
  });

  it('still deletes the message of a cancelled job when the workflow already gave up on the token', async () => {
    seedJob('CANCELLED');
    sfn.on(SendTaskFailureCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    await handleMessage(message(), depsFor(robotThat(async () => ({ status: 'SUCCEEDED' }))), neverStops);

    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
  });

  it('stores each artifact with checksum and size, records it, and reports success', async () => {
    seedJob('QUEUED');
    const pdf = new TextEncoder().encode('%PDF-1.7 test');
    const robot = robotThat(async ({ saveArtifact }) => {
      await saveArtifact('snapshot.pdf', 'application/pdf', pdf);
      return { status: 'SUCCEEDED' };
    });
    await handleMessage(message(), depsFor(robot), neverStops);

    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'artifacts',
      Key: `jobs/${JOB_ID}/snapshot.pdf`,
      ContentType: 'application/pdf',
    });
    const job = await store.get(JOB_ID);
    expect(job).toMatchObject({ status: 'RUNNING', attempts: 1 });
    expect(job?.artifacts).toEqual([
      {
        name: 'snapshot.pdf',
        contentType: 'application/pdf',
        size: pdf.byteLength,
        sha256: createHash('sha256').update(pdf).digest('hex'),
        key: `jobs/${JOB_ID}/snapshot.pdf`,
      },
    ]);
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input).toEqual({
      taskToken: TOKEN,
      output: JSON.stringify({ status: 'SUCCEEDED', artifactCount: 1 }),
    });
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    expect(closedSessions).toBe(1);
  });

  it('reports a business error as Robot.Business with a {code, message} cause', async () => {
    seedJob('QUEUED');
    await handleMessage(message(), depsFor(robotThat(async () => Promise.reject(businessError('PAGE_NOT_FOUND', 'http://x/ answered HTTP 404')))), neverStops);

    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toEqual({
      taskToken: TOKEN,
      error: 'Robot.Business',
      cause: JSON.stringify({ code: 'PAGE_NOT_FOUND', message: 'http://x/ answered HTTP 404' }),
    });
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    expect(closedSessions).toBe(1);
  });

  it('reports an unexpected error as Robot.Technical', async () => {
    seedJob('QUEUED');
    await handleMessage(message(), depsFor(robotThat(async () => Promise.reject(new Error('Target closed')))), neverStops);

    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toMatchObject({ error: 'Robot.Technical', cause: expect.stringContaining('Target closed') });
  });

  it('deletes the message when the token is no longer valid at report time', async () => {
    seedJob('QUEUED');
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('Invalid token'), { name: 'InvalidToken' }));
    await handleMessage(message(), depsFor(robotThat(async () => ({ status: 'SUCCEEDED' }))), neverStops);

    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
  });

  it('leaves a malformed message in the queue for the DLQ', async () => {
    await handleMessage(message('not json'), depsFor(robotThat(async () => ({ status: 'SUCCEEDED' }))), neverStops);
    await handleMessage(message({ jobId: JOB_ID }), depsFor(robotThat(async () => ({ status: 'SUCCEEDED' }))), neverStops);

    expect(sqs.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
    expect(logLines.filter((line) => line.event === 'message.malformed')).toHaveLength(2);
  });

  it('leaves the message in the queue when reporting fails for another reason', async () => {
    seedJob('QUEUED');
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    await handleMessage(message(), depsFor(robotThat(async () => ({ status: 'SUCCEEDED' }))), neverStops);

    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('releases the message without reporting when the worker stops mid-job', async () => {
    seedJob('QUEUED');
    const stop = new AbortController();
    const { robot, started } = hangingRobot();
    const handling = handleMessage(message(), depsFor(robot), { draining: stop.signal, stopping: stop.signal });
    await started;
    stop.abort();
    await handling;

    expect(reports(sfn)).toEqual([]);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).at(-1)?.args[0].input).toMatchObject({ VisibilityTimeout: 0 });
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    expect(closedSessions).toBe(1);
  });

  it('aborts the robot and reports Robot.Cancelled when a heartbeat finds the job cancelled', async () => {
    vi.useFakeTimers();
    seedJob('QUEUED');
    const { robot, started } = hangingRobot();
    const handling = handleMessage(message(), depsFor(robot), neverStops);
    await started;
    await store.transition(JOB_ID, 'CANCELLED', { now: new Date().toISOString() });
    await vi.advanceTimersByTimeAsync(20_000);
    await handling;

    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)[0]?.args[0].input).toMatchObject({ VisibilityTimeout: 60 }); // three 20 s beats
    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toMatchObject({ error: 'Robot.Cancelled' });
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
  });

  it('ends an attempt that runs past the job’s timeoutSeconds as Robot.Timeout, naming the bound', async () => {
    vi.useFakeTimers();
    void store.create({ ...jobRecord('QUEUED'), timeoutSeconds: 120 });
    const { robot, started } = hangingRobot();
    const handling = handleMessage(message(), depsFor(robot), neverStops);
    await started;
    await vi.advanceTimersByTimeAsync(119_000);
    expect(reports(sfn)).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    await handling;

    const reported = sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input;
    expect(reported).toMatchObject({ error: 'Robot.Timeout' });
    expect(JSON.parse(reported?.cause ?? '{}')).toEqual({ code: 'JOB_TIMEOUT', message: "The robot ran longer than the job's timeoutSeconds (120 s)" });
    expect(closedSessions).toBe(1);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
  });

  it('does not count time spent waiting for another job’s portal slot against the job’s timeoutSeconds', async () => {
    vi.useFakeTimers();
    void store.create({ ...jobRecord('QUEUED', { keys: ['a'] }), timeoutSeconds: 60 });
    const leases = new MemoryPortalLeases();
    await leases.tryAcquire('portal.example', 'other-job', 1, 3600, Math.floor(Date.now() / 1000));
    const robot = { ...itemRobotThat(async () => {}), portalUrl: () => 'https://portal.example/' };
    const handling = handleMessage(message(), { ...depsFor(robot), leases, portalSessions: { default: 1, byHost: {} } }, neverStops);
    // Five minutes in the waiting room: five times the job's own bound.
    await vi.advanceTimersByTimeAsync(300_000);
    expect(reports(sfn)).toEqual([]);
    await leases.release({ host: 'portal.example', slot: 0, holder: 'other-job' });
    await vi.advanceTimersByTimeAsync(2_000);
    await handling;

    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect((await items.get(JOB_ID, 'a'))?.status).toBe('SUCCEEDED');
  });

  it('tells a job settled elsewhere (TIMED_OUT) apart from a cancelled one in the report and the log', async () => {
    vi.useFakeTimers();
    seedJob('QUEUED');
    const { robot, started } = hangingRobot();
    const handling = handleMessage(message(), depsFor(robot), neverStops);
    await started;
    await store.transition(JOB_ID, 'TIMED_OUT', { now: new Date().toISOString() });
    await vi.advanceTimersByTimeAsync(20_000);
    await handling;

    expect(JSON.parse(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input.cause ?? '{}')).toEqual({
      code: 'JOB_ENDED',
      message: 'The job was TIMED_OUT while the robot ran',
    });
    expect(JSON.stringify(logLines)).not.toMatch(/cancel/i);
  });

  it('never logs the task token', async () => {
    seedJob('QUEUED');
    await handleMessage(message(), depsFor(robotThat(async () => ({ status: 'SUCCEEDED' }))), neverStops);

    expect(JSON.stringify(logLines)).not.toContain(TOKEN.slice(0, 40));
  });

  it('stops an item robot between items when the job was cancelled, and reports Robot.Cancelled', async () => {
    seedJob('QUEUED', { keys: ['a', 'b', 'c'] });
    const processed: string[] = [];
    const robot = itemRobotThat(async (key) => {
      processed.push(key);
      if (key === 'a') await store.transition(JOB_ID, 'CANCELLED', { now: new Date().toISOString() });
    });

    await handleMessage(message(), depsFor(robot), neverStops);

    expect(processed).toEqual(['a']);
    expect((await items.list(JOB_ID, { limit: 10 })).items.map((item) => item.status)).toEqual(['SUCCEEDED', 'PENDING', 'PENDING']);
    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toMatchObject({ error: 'Robot.Cancelled' });
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
  });

  it('finishes the current item when the worker drains, then hands the message back', async () => {
    seedJob('QUEUED', { keys: ['a', 'b', 'c'] });
    const draining = new AbortController();
    const processed: string[] = [];
    const robot = itemRobotThat(async (key) => {
      processed.push(key);
      if (key === 'b') draining.abort();
    });

    await handleMessage(message(), depsFor(robot), { draining: draining.signal, stopping: new AbortController().signal });

    expect(processed).toEqual(['a', 'b']);
    expect((await items.list(JOB_ID, { limit: 10 })).items.map((item) => item.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'PENDING']);
    expect(reports(sfn)).toEqual([]);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).at(-1)?.args[0].input).toMatchObject({ VisibilityTimeout: 0 });
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });
});

/** What the worker reported to the workflow: heartbeats keep the token alive, they report nothing. */
function reports(client: typeof sfn) {
  return [...client.commandCalls(SendTaskSuccessCommand), ...client.commandCalls(SendTaskFailureCommand)];
}
