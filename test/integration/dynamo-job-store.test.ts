import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../core/adapters/dynamo-job-store';
import { IllegalTransition, InputInvalid, JobNotFound } from '../../core/errors';
import { ensureJobsTable, startLocalDynamoDb, type LocalDynamoDb } from '../../local/emulators/dynamodb';
import { makeJob } from '../support/memory-job-store';

/** The job store against a real DynamoDB API (dynalite): conditional writes, indexes, cursors, TTL. */
let dynamodb: LocalDynamoDb;
let client: DynamoDBClient;
const TABLE = 'jobs';
const NOW = '2026-11-23T10:00:00.000Z';
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

beforeAll(async () => {
  dynamodb = await startLocalDynamoDb();
  client = new DynamoDBClient({ endpoint: dynamodb.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await ensureJobsTable(client, TABLE);
});
afterAll(async () => {
  client.destroy();
  await dynamodb.close();
});

describe('DynamoJobStore', () => {
  it('creates a job once: the second create of the same id reports the existing job', async () => {
    const store = new DynamoJobStore(client, TABLE);
    const job = makeJob({ jobId: id(1), input: { url: 'https://example.com/', nested: { empty: '' } } });

    expect(await store.create(job)).toBe(true);
    expect(await store.create({ ...job, robot: 'other' })).toBe(false);
    expect(await store.get(job.jobId)).toEqual({ ...job, version: 1 });
  });

  it('counts every write in the job’s version and tells its change listener each job as written, in order', async () => {
    const written: Array<{ version?: number; status: string }> = [];
    const store = new DynamoJobStore(client, TABLE, undefined, undefined, (job) => {
      written.push({ version: job.version, status: job.status });
      return Promise.resolve();
    });
    await store.create(makeJob({ jobId: id(40) }));
    await store.setExecutionArn(id(40), 'arn:aws:states:us-east-1:000000000000:execution:jobs:x');
    await store.setItemTotal(id(40), 2);
    await store.transition(id(40), 'RUNNING', { now: NOW, attemptRuntime: 'fargate' });
    await store.countItems(id(40), { succeeded: 1, failed: 0 });
    await store.addArtifact(id(40), { name: 'a.pdf', contentType: 'application/pdf', size: 1, sha256: 'x', key: 'k' }, NOW);
    await store.transition(id(40), 'SUCCEEDED', { now: NOW });
    await store.setWebhookDelivery(id(40), { status: 'DELIVERED', attempts: 1, lastAttemptAt: NOW });
    await expect(store.transition(id(40), 'FAILED', { now: NOW })).rejects.toBeInstanceOf(IllegalTransition);

    expect(written.map((w) => w.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(written.map((w) => w.status)).toEqual(['QUEUED', 'QUEUED', 'QUEUED', 'RUNNING', 'RUNNING', 'RUNNING', 'SUCCEEDED', 'SUCCEEDED']);
    expect((await store.get(id(40)))?.version).toBe(8);
  });

  it('lets the first terminal writer win and refuses every later one', async () => {
    const store = new DynamoJobStore(client, TABLE);
    await store.create(makeJob({ jobId: id(2) }));

    const running = await store.transition(id(2), 'RUNNING', { now: NOW, attemptRuntime: 'fargate' });
    expect(running).toMatchObject({ status: 'RUNNING', attempts: 1, lastAttemptRuntime: 'fargate' });
    const cancelled = await store.transition(id(2), 'CANCELLED', { now: NOW });
    expect(cancelled.status).toBe('CANCELLED');

    await expect(store.transition(id(2), 'SUCCEEDED', { now: NOW })).rejects.toBeInstanceOf(IllegalTransition);
    await expect(store.transition(id(999), 'RUNNING', { now: NOW })).rejects.toBeInstanceOf(JobNotFound);
    expect((await store.get(id(2)))?.status).toBe('CANCELLED');
  });

  it('keeps item counters with atomic ADDs in every status and stamps startedAt at the first attempt only', async () => {
    const store = new DynamoJobStore(client, TABLE);
    await store.create(makeJob({ jobId: id(5) }));
    await store.setItemTotal(id(5), 4);
    await store.setItemTotal(id(5), 4);
    const first = await store.transition(id(5), 'RUNNING', { now: NOW, attemptRuntime: 'fargate' });
    const second = await store.transition(id(5), 'RUNNING', { now: '2026-11-23T10:05:00.000Z', attemptRuntime: 'fargate' });

    await Promise.all([
      store.countItems(id(5), { succeeded: 1, failed: 0 }),
      store.countItems(id(5), { succeeded: 0, failed: 1 }),
      store.countItems(id(5), { succeeded: 1, failed: 0 }),
    ]);
    await store.countItems(id(5), { succeeded: 1, failed: -1 });
    await store.transition(id(5), 'CANCELLED', { now: NOW });
    await store.countItems(id(5), { succeeded: 1, failed: 0 });

    expect(first.startedAt).toBe(NOW);
    expect(second.startedAt).toBe(NOW);
    expect(await store.get(id(5))).toMatchObject({ itemsTotal: 4, itemsSucceeded: 4, itemsFailed: 0 });
    await expect(store.countItems(id(998), { succeeded: 1, failed: 0 })).rejects.toBeInstanceOf(JobNotFound);
  });

  it('links a retry to its original once, in a terminal status too, and refuses a missing original', async () => {
    const store = new DynamoJobStore(client, TABLE);
    await store.create(makeJob({ jobId: id(40), status: 'PARTIAL' }));
    await store.addRetry(id(40), id(41));
    await store.addRetry(id(40), id(41));
    await store.addRetry(id(40), id(42));
    expect((await store.get(id(40)))?.retries).toEqual([id(41), id(42)]);
    await expect(store.addRetry(id(998), id(41))).rejects.toBeInstanceOf(JobNotFound);
  });

  it('stamps the TTL on a finished job only when a retention is configured', async () => {
    const kept = new DynamoJobStore(client, TABLE, 30);
    await kept.create(makeJob({ jobId: id(3), status: 'RUNNING' }));
    await kept.create(makeJob({ jobId: id(4), status: 'QUEUED' }));

    await kept.transition(id(3), 'SUCCEEDED', { now: NOW });
    await kept.transition(id(4), 'RUNNING', { now: NOW, attemptRuntime: 'fargate' });

    const expiresAt = async (jobId: string) =>
      (await client.send(new GetItemCommand({ TableName: TABLE, Key: { jobId: { S: jobId } } }))).Item?.expiresAt?.N;
    expect(Number(await expiresAt(id(3)))).toBe(Date.parse(NOW) / 1000 + 30 * 86_400);
    expect(await expiresAt(id(4))).toBeUndefined();
    expect(await kept.get(id(3))).not.toHaveProperty('expiresAt');
  });

  it('pages an owner’s jobs newest first and refuses a cursor from another listing', async () => {
    const store = new DynamoJobStore(client, TABLE);
    for (let n = 10; n < 15; n++) await store.create(makeJob({ jobId: id(n), owner: 'pager', createdAt: `2026-11-0${n - 9}T00:00:00.000Z` }));

    const first = await store.list({ owner: 'pager', limit: 3 });
    const second = await store.list({ owner: 'pager', limit: 3, nextToken: first.nextToken! });

    expect([...first.jobs, ...second.jobs].map((job) => job.jobId)).toEqual([id(14), id(13), id(12), id(11), id(10)]);
    expect(second.nextToken).toBeUndefined();
    await expect(store.list({ owner: 'someone-else', limit: 3, nextToken: first.nextToken! })).rejects.toBeInstanceOf(InputInvalid);
    await expect(store.list({ owner: 'pager', limit: 3, nextToken: 'garbage' })).rejects.toBeInstanceOf(InputInvalid);
  });

  it('filters by status across pages until the page is full', async () => {
    const store = new DynamoJobStore(client, TABLE);
    for (let n = 20; n < 26; n++) {
      await store.create(makeJob({ jobId: id(n), owner: 'filter', status: n % 2 ? 'FAILED' : 'QUEUED', createdAt: `2026-11-1${n - 20}T00:00:00.000Z` }));
    }

    const page = await store.list({ owner: 'filter', status: 'FAILED', limit: 3 });

    expect(page.jobs.map((job) => job.jobId)).toEqual([id(25), id(23), id(21)]);
  });
});
