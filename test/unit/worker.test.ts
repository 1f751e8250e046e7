import { S3Client } from '@aws-sdk/client-s3';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient, type Message, type ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LONG_POLL_SECONDS } from '../../core/delivery';
import type { Job } from '../../core/job';
import type { RobotDefinition } from '../../core/robot';
import { startWorker, type WorkerDeps } from '../../containers/robot/src/worker';
import { pollUntil } from '../../local/emulators/poll';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore } from '../support/memory-job-store';
import { MemoryPortalLeases, attemptSettings, fakeRuntimeDeps, keysRobot, recordingLogger, type LogLine } from '../support/robot-runtime-fakes';

const sqs = mockClient(SQSClient);
const sfn = mockClient(SFNClient);
mockClient(S3Client);
const PORTAL = 'portal.example';

let store: MemoryJobStore;
let items: MemoryItemStore;
let leases: MemoryPortalLeases;
const logLines: LogLine[] = [];
/** Receives the worker has open; each resolves with the messages the test hands it. */
let openReceives: Array<{ input: ReceiveMessageCommand['input']; answer(messages: Message[]): void }>;

/** An item robot on a portal with one session slot; `onItem` runs inside each item. */
function portalRobot(onItem: (key: string) => Promise<void> = async () => {}): RobotDefinition {
  return keysRobot({ name: 'portal-robot', portalUrl: () => `https://${PORTAL}/`, processItem: async (_context, { key }) => (await onItem(key), {}) });
}

function workerDeps(robot: RobotDefinition, concurrency: number): WorkerDeps {
  return {
    ...fakeRuntimeDeps(robot, { store, items, leases, portalSessions: { default: 1, byHost: {} }, log: recordingLogger(logLines) }),
    ...attemptSettings(1),
    sqs: new SQSClient({}),
    sfn: new SFNClient({}),
    queueUrl: 'https://sqs.local/robot',
    concurrency,
  };
}

function seedJob(jobId: string): Message {
  const now = new Date().toISOString();
  const job: Job = { jobId, owner: 'u1', robot: 'portal-robot', status: 'QUEUED', input: { keys: ['a'] }, attempts: 0, createdAt: now, updatedAt: now, artifacts: [], requestHash: 'h' };
  void store.create(job);
  return { MessageId: `m-${jobId}`, ReceiptHandle: `r-${jobId}`, Body: JSON.stringify({ jobId, taskToken: `token-${jobId}` }) };
}

const nextReceive = () => pollUntil(() => openReceives.shift(), { timeoutMs: 5_000, description: 'the worker to poll' });
const succeeded = () => sfn.commandCalls(SendTaskSuccessCommand).map((call) => call.args[0].input.taskToken);

beforeEach(() => {
  sqs.reset();
  sfn.reset();
  store = new MemoryJobStore();
  items = new MemoryItemStore();
  leases = new MemoryPortalLeases();
  logLines.length = 0;
  openReceives = [];
  sqs.on(ReceiveMessageCommand).callsFake(
    (input: ReceiveMessageCommand['input']) =>
      new Promise<ReceiveMessageCommandOutput>((resolve) => openReceives.push({ input, answer: (Messages) => resolve({ Messages, $metadata: {} }) })),
  );
});

describe('robot worker', () => {
  it('asks for one window of visibility per receive and at most its free slots', async () => {
    const worker = startWorker(workerDeps(portalRobot(), 3));
    const receive = await nextReceive();
    expect(receive.input).toMatchObject({ MaxNumberOfMessages: 3, WaitTimeSeconds: LONG_POLL_SECONDS, VisibilityTimeout: 3 });
    const stopped = worker.stop(1_000);
    receive.answer([]);
    await stopped;
  });

  it('on stop, lets its open receive return and hands back what it brought at once, without running it', async () => {
    const worker = startWorker(workerDeps(portalRobot(), 2));
    const receive = await nextReceive();
    const message = seedJob('job-late');
    const stopped = worker.stop(1_000);
    // The receive was not dropped: SQS may still deliver into it, and whatever it brings must come back.
    receive.answer([message]);
    await stopped;

    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: 'https://sqs.local/robot', ReceiptHandle: 'r-job-late', VisibilityTimeout: 0 },
    ]);
    expect((await store.get('job-late'))?.attempts).toBe(0);
    expect(openReceives).toHaveLength(0);
  });

  it('frees the slot of a job that waits for a portal slot, so that the slot holder’s job can run on it', async () => {
    // A dead worker's job holds the portal's only slot; its message comes back to this worker.
    await leases.tryAcquire(PORTAL, 'job-holder', 1, 3600, Math.floor(Date.now() / 1000));
    const worker = startWorker(workerDeps(portalRobot(), 1));
    (await nextReceive()).answer([seedJob('job-waiting')]);
    // The waiting job left its slot: the worker polls again although its concurrency is 1.
    (await nextReceive()).answer([seedJob('job-holder')]);

    await pollUntil(() => (succeeded().length === 2 ? true : undefined), { timeoutMs: 10_000, description: 'both jobs to succeed' });
    expect(succeeded()).toEqual(['token-job-holder', 'token-job-waiting']);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(2);
    const stopped = worker.stop(1_000);
    (await nextReceive()).answer([]);
    await stopped;
  });

  it.each([
    [1, 1],
    [5, 2],
  ])('with %i portal slot(s) runs at most %i job(s) at once (concurrency 2), and every job to the end', async (portalSlots, expectedMost) => {
    let running = 0;
    let most = 0;
    const robot = portalRobot(async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
    });
    const worker = startWorker({ ...workerDeps(robot, 2), portalSessions: { default: portalSlots, byHost: {} } });
    const jobs = ['j1', 'j2', 'j3', 'j4', 'j5'].map(seedJob);
    for (let index = 0; index < jobs.length; ) {
      const receive = await nextReceive();
      const take = receive.input.MaxNumberOfMessages ?? 1;
      receive.answer(jobs.slice(index, index + take));
      index += take;
    }
    await pollUntil(() => (succeeded().length === 5 ? true : undefined), { timeoutMs: 15_000, description: 'all jobs to succeed' });
    expect(most).toBe(expectedMost);
    const stopped = worker.stop(1_000);
    (await nextReceive()).answer([]);
    await stopped;
  });
});
