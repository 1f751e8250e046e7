import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqsRobotQueues } from '../../core/adapters/sqs-robot-queues';
import { API_ROUTES } from '../../functions/api/routes';
import { ForbiddenAction } from '../../core/errors';
import type { Caller } from '../../core/job';
import { listDeadLetters, operationsOverview, redriveDeadLetters, type DeadLetter, type HeldSlot, type RobotQueues } from '../../core/operations';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';

vi.hoisted(() => {
  Object.assign(process.env, {
    JOBS_TABLE_NAME: 'jobs',
    LEASES_TABLE_NAME: 'leases',
    ROBOT_QUEUE_URL: 'https://sqs.local/robot',
    ROBOT_DEAD_LETTER_QUEUE_URL: 'https://sqs.local/robot-dlq',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
});

const admin: Caller = { sub: 'root', isAdmin: true };
const client: Caller = { sub: 'user-a', isAdmin: false };
const NOW = new Date('2026-11-23T12:00:00.000Z');
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const minutesBefore = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();

class FakeQueues implements RobotQueues {
  letters: DeadLetter[] = [];
  robot: string[] = [];
  async depth(queue: 'robot' | 'deadLetter') {
    return queue === 'robot' ? { visible: this.robot.length, inFlight: 2, delayed: 0 } : { visible: this.letters.length, inFlight: 0, delayed: 0 };
  }
  async peekDeadLetters(max: number) {
    return this.letters.slice(0, max);
  }
  async redrive(messageId?: string) {
    const moved = this.letters.filter((letter) => !messageId || letter.messageId === messageId);
    this.letters = this.letters.filter((letter) => !moved.includes(letter));
    this.robot.push(...moved.map((letter) => letter.body));
    return moved.map((letter) => letter.messageId);
  }
}

function deps(jobs = new MemoryJobStore(), queues = new FakeQueues(), held: HeldSlot[] = []) {
  return { jobs, queues, slots: { listHeld: async () => held }, sessionCaps: { default: 2, byHost: { 'portal.example:8443': 5 } }, now: () => NOW };
}

describe('operations overview', () => {
  it('is for admins only', async () => {
    await expect(operationsOverview(deps(), client)).rejects.toBeInstanceOf(ForbiddenAction);
    await expect(listDeadLetters(deps(), client)).rejects.toBeInstanceOf(ForbiddenAction);
    await expect(redriveDeadLetters(deps(), client, {})).rejects.toBeInstanceOf(ForbiddenAction);
  });

  it('reports queue depths, the oldest queued job, running jobs with progress and owner, the last hour and slots per host', async () => {
    const jobs = new MemoryJobStore();
    await jobs.create(makeJob({ jobId: id(1), status: 'QUEUED', createdAt: minutesBefore(7) }));
    await jobs.create(makeJob({ jobId: id(2), status: 'QUEUED', createdAt: minutesBefore(1) }));
    await jobs.create(makeJob({ jobId: id(3), status: 'RUNNING', owner: 'user-b', robot: 'freight-pod-download', createdAt: minutesBefore(5), startedAt: minutesBefore(4), itemsTotal: 10, itemsSucceeded: 4, itemsFailed: 0 }));
    // Finished in the window: two; one earlier than the window; one created beyond the look-back.
    await jobs.create(makeJob({ jobId: id(4), status: 'SUCCEEDED', createdAt: minutesBefore(30), updatedAt: minutesBefore(20), itemsTotal: 3, itemsSucceeded: 3, itemsFailed: 0 }));
    await jobs.create(makeJob({ jobId: id(5), status: 'PARTIAL', createdAt: minutesBefore(50), updatedAt: minutesBefore(10), itemsTotal: 5, itemsSucceeded: 3, itemsFailed: 2 }));
    await jobs.create(makeJob({ jobId: id(6), status: 'FAILED', createdAt: minutesBefore(200), updatedAt: minutesBefore(90) }));
    await jobs.create(makeJob({ jobId: id(7), status: 'SUCCEEDED', createdAt: minutesBefore(60 * 30), updatedAt: minutesBefore(60 * 29) }));
    const held: HeldSlot[] = [
      { host: 'portal.example:8443', slot: 3, holder: id(3), expiresAt: NOW.toISOString() },
      { host: 'portal.example:8443', slot: 0, holder: id(9), expiresAt: NOW.toISOString() },
      { host: 'other.example', slot: 1, holder: id(8), expiresAt: NOW.toISOString() },
    ];

    const overview = await operationsOverview(deps(jobs, new FakeQueues(), held), admin);

    expect(overview.queues.robot).toEqual({ visible: 0, inFlight: 2, delayed: 0, oldestQueuedJobAgeSeconds: 420 });
    expect(overview.inFlight).toEqual([
      expect.objectContaining({ jobId: id(3), owner: 'user-b', robot: 'freight-pod-download', progress: expect.objectContaining({ total: 10, succeeded: 4, pending: 6, itemsPerMinute: 1 }) }),
    ]);
    expect(overview.throughput).toEqual({ windowMinutes: 60, jobsFinished: 2, itemsFinished: 8, byStatus: { SUCCEEDED: 1, PARTIAL: 1 } });
    expect(overview.portalSlots).toEqual([
      { host: 'other.example', cap: 2, held: 1, holders: [{ slot: 1, jobId: id(8), expiresAt: NOW.toISOString() }] },
      { host: 'portal.example:8443', cap: 5, held: 2, holders: [expect.objectContaining({ slot: 0 }), expect.objectContaining({ slot: 3, jobId: id(3) })] },
    ]);
  });
});

describe('dead letters', () => {
  it('names each message’s job, task and reason: the job’s error, or the receives it exhausted', async () => {
    const jobs = new MemoryJobStore();
    await jobs.create(makeJob({ jobId: id(1), status: 'FAILED', error: { type: 'TECHNICAL', code: 'CRASHED', message: 'Browser crashed' } }));
    await jobs.create(makeJob({ jobId: id(2), status: 'RUNNING', owner: 'user-b', attempts: 3 }));
    const queues = new FakeQueues();
    queues.letters = [
      { messageId: 'm-1', body: JSON.stringify({ jobId: id(1), taskToken: 't' }), receiveCount: 4 },
      { messageId: 'm-2', body: JSON.stringify({ jobId: id(2), taskToken: 't', chunk: { index: 3, size: 25 } }), receiveCount: 3, sentAt: NOW.toISOString() },
      { messageId: 'm-3', body: 'not json', receiveCount: 1 },
    ];

    const { messages } = await listDeadLetters(deps(jobs, queues), admin);

    expect(messages).toEqual([
      expect.objectContaining({ messageId: 'm-1', jobId: id(1), task: 'job', reason: 'CRASHED: Browser crashed', job: expect.objectContaining({ status: 'FAILED' }) }),
      expect.objectContaining({ messageId: 'm-2', jobId: id(2), task: 'chunk', chunk: 3, sentAt: NOW.toISOString(), job: expect.objectContaining({ owner: 'user-b', attempts: 3 }) }),
      expect.objectContaining({ messageId: 'm-3', task: 'unknown', reason: expect.stringContaining('Received 1 times') }),
    ]);
    expect(messages[2]).not.toHaveProperty('jobId');
  });

  it('redrives one message by id, then all, and a second redrive of the same message moves nothing', async () => {
    const queues = new FakeQueues();
    queues.letters = ['a', 'b', 'c'].map((messageId) => ({ messageId, body: messageId, receiveCount: 3 }));

    expect(await redriveDeadLetters(deps(undefined, queues), admin, { messageId: 'b' })).toEqual({ redriven: ['b'] });
    expect(await redriveDeadLetters(deps(undefined, queues), admin, { messageId: 'b' })).toEqual({ redriven: [] });
    expect(await redriveDeadLetters(deps(undefined, queues), admin, {})).toEqual({ redriven: ['a', 'c'] });
    expect(queues.robot).toEqual(['b', 'a', 'c']);
  });

  it('refuses a malformed redrive request naming the field', async () => {
    await expect(redriveDeadLetters(deps(), admin, { messageId: '../x' })).rejects.toMatchObject({ statusCode: 400, details: { fields: [{ field: 'messageId' }] } });
    await expect(redriveDeadLetters(deps(), admin, { all: true })).rejects.toMatchObject({ statusCode: 400 });
  });
});

describe('SqsRobotQueues', () => {
  const sqs = mockClient(SQSClient);
  const queues = new SqsRobotQueues(new SQSClient({}), { robot: 'https://sqs.local/robot', deadLetter: 'https://sqs.local/robot-dlq' });
  const message = (n: number) => ({ MessageId: `m-${n}`, ReceiptHandle: `r-${n}`, Body: `{"jobId":"${n}"}`, Attributes: { ApproximateReceiveCount: '3', SentTimestamp: String(NOW.getTime()) } });
  beforeEach(() => sqs.reset());

  it('reads depths from GetQueueAttributes', async () => {
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '4', ApproximateNumberOfMessagesNotVisible: '2', ApproximateNumberOfMessagesDelayed: '1' } });
    expect(await queues.depth('deadLetter')).toEqual({ visible: 4, inFlight: 2, delayed: 1 });
    expect(sqs.commandCalls(GetQueueAttributesCommand)[0]!.args[0].input.QueueUrl).toBe('https://sqs.local/robot-dlq');
  });

  it('peeks dead letters with visibility 0, each once', async () => {
    sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: [message(1), message(2)] }).resolvesOnce({ Messages: [message(2)] }).resolves({});
    const letters = await queues.peekDeadLetters(50);
    expect(letters).toEqual([
      { messageId: 'm-1', body: '{"jobId":"1"}', receiveCount: 3, sentAt: NOW.toISOString() },
      expect.objectContaining({ messageId: 'm-2' }),
    ]);
    expect(sqs.commandCalls(ReceiveMessageCommand).every((call) => call.args[0].input.VisibilityTimeout === 0)).toBe(true);
  });

  it('redrives one message: sends it to the robot queue before deleting it from the DLQ, and hands the others back at once', async () => {
    sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: [message(1), message(2)] }).resolves({});
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: '0', MessageId: 'new', MD5OfMessageBody: '' }] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({});

    expect(await queues.redrive('m-2')).toEqual(['m-2']);

    const send = sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input;
    expect(send).toMatchObject({ QueueUrl: 'https://sqs.local/robot', Entries: [{ MessageBody: '{"jobId":"2"}' }] });
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input).toMatchObject({ QueueUrl: 'https://sqs.local/robot-dlq', Entries: [{ ReceiptHandle: 'r-2' }] });
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)[0]!.args[0].input.Entries).toEqual([{ Id: '0', ReceiptHandle: 'r-1', VisibilityTimeout: 0 }]);
  });

  it('keeps a dead letter whose send failed in the DLQ', async () => {
    sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: [message(1), message(2)] }).resolves({});
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: '1', MessageId: 'new', MD5OfMessageBody: '' }], Failed: [{ Id: '0', Code: 'x', SenderFault: false }] });
    sqs.on(DeleteMessageBatchCommand).resolves({});

    expect(await queues.redrive()).toEqual(['m-2']);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input.Entries).toEqual([{ Id: '0', ReceiptHandle: 'r-2' }]);
  });
});

describe('operations handlers', () => {
  type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
  const handlers: Record<string, Handler> = {};
  beforeAll(async () => {
    for (const name of ['ops-overview', 'ops-list-dead-letters', 'ops-redrive-dead-letters']) {
      handlers[name] = ((await import(`../../functions/api/${name}.ts`)) as { handler: Handler }).handler;
    }
  });
  const event = (groups: string | undefined, body: string | null = null) =>
    ({
      httpMethod: 'POST',
      path: '/ops',
      headers: { 'content-type': 'application/json' },
      body,
      isBase64Encoded: false,
      requestContext: { authorizer: { claims: { sub: 'someone', ...(groups ? { 'cognito:groups': groups } : {}) } } },
    }) as unknown as APIGatewayProxyEvent;

  it('answer 403 in the error shape to a caller outside admins, before reading anything', async () => {
    const sqs = mockClient(SQSClient);
    for (const name of Object.keys(handlers)) {
      const result = await handlers[name]!(event('[clients]', '{"bad":'), {} as Context);
      expect(result.statusCode, name).toBe(403);
      expect(JSON.parse(result.body), name).toEqual({ error: { code: 'FORBIDDEN', message: expect.any(String) } });
    }
    expect(sqs.calls()).toHaveLength(0);
    sqs.restore();
    expect(API_ROUTES.filter((route) => route.adminOnly).map((route) => route.entry.replace(/^functions\/api\/|\.ts$/g, '')).sort()).toEqual(Object.keys(handlers).sort());
  });

  it('redrives for an admin: 200 with the ids moved', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: [message(7)] }).resolves({});
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: '0', MessageId: 'n', MD5OfMessageBody: '' }] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const result = await handlers['ops-redrive-dead-letters']!(event('[admins]', '{"messageId":"m-7"}'), {} as Context);
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ redriven: ['m-7'] });
    sqs.restore();
  });
  const message = (n: number) => ({ MessageId: `m-${n}`, ReceiptHandle: `r-${n}`, Body: '{}' });
});
