import { testCredentialDeps } from '../support/memory-credential-store';
import { DEFAULT_JOB_TIMEOUTS } from '../../core/delivery';
import * as z from 'zod';
import { describe, expect, it, vi } from 'vitest';
import { JobNotFound, RetryNotPossible } from '../../core/errors';
import type { Caller, Job } from '../../core/job';
import { listJobItems, retryJob } from '../../core/items-service';
import type { RobotCatalog } from '../../core/jobs';
import type { RobotDefinition } from '../../core/robot';
import { MemoryItemStore, makeItem } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';

const JOB_ID = '00000000-0000-4000-8000-000000000001';
const alice: Caller = { sub: 'user-a', isAdmin: false };
const bob: Caller = { sub: 'user-b', isAdmin: false };
const admin: Caller = { sub: 'admin-1', isAdmin: true };

const podRobot: RobotDefinition<{ portalUrl: string; invoices: string[] }> = {
  name: 'pod',
  version: '1.0.0',
  description: 'test robot over items',
  input: z.strictObject({ portalUrl: z.url(), invoices: z.array(z.string()).min(1) }),
  itemsField: 'invoices',
  items: (input) => input.invoices.map((key) => ({ key })),
  processItem: async () => ({}),
};
const simpleRobot: RobotDefinition<{ url: string }> = {
  name: 'simple',
  version: '1.0.0',
  description: 'test robot without items',
  input: z.strictObject({ url: z.url() }),
  run: async () => ({ status: 'SUCCEEDED' }),
};
const robots: RobotCatalog = {
  find: (name) => [podRobot, simpleRobot].find((robot) => robot.name === name) as RobotDefinition | undefined,
  names: () => ['pod', 'simple'],
};

const podJob = (overrides: Partial<Job> = {}) =>
  makeJob({ jobId: JOB_ID, robot: 'pod', status: 'PARTIAL', input: { portalUrl: 'https://portal.example.com/', invoices: ['111111', '404000', '222222', '333333'] }, callbackUrl: 'https://hooks.example.com/h', ...overrides });

const ARTIFACT = { name: '111111.pdf', contentType: 'application/pdf', size: 10, sha256: 'a'.repeat(64), key: `jobs/${JOB_ID}/items/111111/111111.pdf` };
const seededItems = () =>
  new MemoryItemStore().seed(
    makeItem({ key: '111111', position: 0, status: 'SUCCEEDED', attempts: 1, artifact: ARTIFACT }),
    makeItem({ key: '404000', position: 1, status: 'FAILED', attempts: 1, error: { type: 'BUSINESS', code: 'UNKNOWN_INVOICE', message: 'not found' } }),
    makeItem({ key: '222222', position: 2, status: 'SUCCEEDED', attempts: 2 }),
    makeItem({ key: '333333', position: 3, status: 'FAILED', attempts: 3, error: { type: 'TECHNICAL', code: 'TIMEOUT', message: 'slow portal' } }),
  );

function setup(job: Job, items = seededItems()) {
  const store = new MemoryJobStore();
  store.jobs.set(job.jobId, job);
  const workflow = { start: vi.fn(async (jobId: string) => `arn:aws:states:local:execution:${jobId}`) };
  const links = { presign: vi.fn(async (key: string) => `https://s3.example.com/${key}?X-Amz-Signature=x`) };
  const now = () => new Date('2026-11-24T08:00:00.000Z');
  return { store, items, workflow, links, deps: { store, items, workflow, links, robots, egressAllowHosts: [], timeouts: DEFAULT_JOB_TIMEOUTS, credentials: testCredentialDeps(), now } };
}

describe('listJobItems', () => {
  it('lists the owner’s items in submission order with presigned artifact links and no S3 keys', async () => {
    const { deps } = setup(podJob());
    const page = await listJobItems(deps, alice, JOB_ID, {});
    expect(page.items.map((item) => [item.key, item.status, item.attempts])).toEqual([
      ['111111', 'SUCCEEDED', 1],
      ['404000', 'FAILED', 1],
      ['222222', 'SUCCEEDED', 2],
      ['333333', 'FAILED', 3],
    ]);
    expect(page.items[0]?.artifact).toEqual({ name: '111111.pdf', contentType: 'application/pdf', size: 10, sha256: 'a'.repeat(64), url: expect.stringContaining('X-Amz-Signature') });
    expect(page.items[1]?.error).toEqual({ type: 'BUSINESS', code: 'UNKNOWN_INVOICE', message: 'not found' });
    expect(JSON.stringify(page)).not.toContain('"key":"jobs/');
  });

  it('paginates and filters by status', async () => {
    const { deps } = setup(podJob());
    const first = await listJobItems(deps, alice, JOB_ID, { limit: '1', status: 'FAILED' });
    expect(first.items.map((item) => item.key)).toEqual(['404000']);
    const second = await listJobItems(deps, alice, JOB_ID, { limit: '1', status: 'FAILED', nextToken: first.nextToken });
    expect(second.items.map((item) => item.key)).toEqual(['333333']);
    expect(second.nextToken).toBeUndefined();
  });

  it('answers 404 for someone else’s job, lets admins see it, and names invalid query fields', async () => {
    const { deps } = setup(podJob());
    await expect(listJobItems(deps, bob, JOB_ID, {})).rejects.toBeInstanceOf(JobNotFound);
    await expect(listJobItems(deps, admin, JOB_ID, {})).resolves.toMatchObject({ items: expect.any(Array) });
    await expect(listJobItems(deps, alice, JOB_ID, { limit: '0', status: 'DONE' })).rejects.toMatchObject({
      statusCode: 400,
      details: { fields: [{ field: 'limit' }, { field: 'status' }] },
    });
  });
});

describe('retryJob', () => {
  it('queues a new job for every failed item with scope all-failed, keeping owner, robot and callbackUrl, linked both ways', async () => {
    const { deps, store, workflow } = setup(podJob());
    const { job, replayed } = await retryJob(deps, alice, JOB_ID, undefined, { scope: 'all-failed' });

    expect(replayed).toBe(false);
    expect(job).toMatchObject({
      status: 'QUEUED',
      robot: 'pod',
      retryOf: JOB_ID,
      callbackUrl: 'https://hooks.example.com/h',
      input: { portalUrl: 'https://portal.example.com/', invoices: ['404000', '333333'] },
    });
    expect(job.jobId).not.toBe(JOB_ID);
    expect(workflow.start).toHaveBeenCalledWith(job.jobId);
    expect((await store.get(job.jobId))?.owner).toBe('user-a');
    expect((await store.get(JOB_ID))?.status).toBe('PARTIAL');
    expect((await store.get(JOB_ID))?.retries).toEqual([job.jobId]);
  });

  it('retries only technical failures by default: business failures would fail again', async () => {
    const { deps, store } = setup(podJob());
    const first = await retryJob(deps, alice, JOB_ID);
    expect(first.job.input.invoices).toEqual(['333333']);
    const second = await retryJob(deps, alice, JOB_ID, undefined, { scope: 'technical' });
    expect(second.job.input.invoices).toEqual(['333333']);
    expect((await store.get(JOB_ID))?.retries).toEqual([first.job.jobId, second.job.jobId]);
  });

  it('says so (409) when every failure was a business one, and refuses an unknown scope (400)', async () => {
    const items = new MemoryItemStore().seed(
      makeItem({ key: '111111', position: 0, status: 'SUCCEEDED' }),
      makeItem({ key: '404000', position: 1, status: 'FAILED', error: { type: 'BUSINESS', code: 'UNKNOWN_INVOICE', message: 'not found' } }),
    );
    const { deps } = setup(podJob(), items);
    await expect(retryJob(deps, alice, JOB_ID)).rejects.toMatchObject({ statusCode: 409, message: expect.stringContaining('all-failed') });
    await expect(retryJob(deps, alice, JOB_ID, undefined, { scope: 'everything' })).rejects.toMatchObject({ statusCode: 400, details: { fields: [{ field: 'scope' }] } });
    const failedForBusiness = setup(makeJob({ jobId: JOB_ID, robot: 'simple', status: 'FAILED', input: { url: 'https://example.com/' }, error: { type: 'BUSINESS', code: 'NOT_FOUND', message: '404' } }), new MemoryItemStore());
    await expect(retryJob(failedForBusiness.deps, alice, JOB_ID)).rejects.toBeInstanceOf(RetryNotPossible);
    await expect(retryJob(failedForBusiness.deps, alice, JOB_ID, undefined, { scope: 'all-failed' })).resolves.toMatchObject({ job: { retryOf: JOB_ID } });
  });

  it('includes items a job that ended early left PENDING', async () => {
    const items = new MemoryItemStore().seed(
      makeItem({ key: '111111', position: 0, status: 'SUCCEEDED' }),
      makeItem({ key: '222222', position: 1, status: 'PENDING' }),
    );
    const { deps } = setup(podJob({ status: 'TIMED_OUT', input: { portalUrl: 'https://portal.example.com/', invoices: ['111111', '222222'] } }), items);
    expect((await retryJob(deps, alice, JOB_ID)).job.input.invoices).toEqual(['222222']);
  });

  it('replays with the same Idempotency-Key instead of queueing twice', async () => {
    const { deps, workflow } = setup(podJob());
    const first = await retryJob(deps, alice, JOB_ID, 'retry-1');
    const second = await retryJob(deps, alice, JOB_ID, 'retry-1');
    expect(second).toEqual({ job: first.job, replayed: true });
    expect(workflow.start).toHaveBeenCalledOnce();
    expect((await deps.store.get(JOB_ID))?.retries).toEqual([first.job.jobId]);
  });

  it('gives an admin’s retry of someone else’s job to its owner', async () => {
    const { deps, store } = setup(podJob());
    const { job } = await retryJob(deps, admin, JOB_ID);
    expect((await store.get(job.jobId))?.owner).toBe('user-a');
  });

  it('refuses (409) a job that has not finished, one whose items all succeeded, and hides others’ jobs (404)', async () => {
    const running = setup(podJob({ status: 'RUNNING' }));
    await expect(retryJob(running.deps, alice, JOB_ID)).rejects.toThrow(RetryNotPossible);
    const allDone = setup(podJob({ status: 'SUCCEEDED' }), new MemoryItemStore().seed(makeItem({ key: '111111', status: 'SUCCEEDED' })));
    await expect(retryJob(allDone.deps, alice, JOB_ID)).rejects.toMatchObject({ statusCode: 409, message: expect.stringContaining('nothing to retry') });
    await expect(retryJob(setup(podJob()).deps, bob, JOB_ID)).rejects.toBeInstanceOf(JobNotFound);
    expect(running.workflow.start).not.toHaveBeenCalled();
  });

  it('retries the whole input of a robot without items only when the job FAILED or TIMED_OUT', async () => {
    const input = { url: 'https://example.com/' };
    const failed = setup(makeJob({ jobId: JOB_ID, robot: 'simple', status: 'FAILED', input }), new MemoryItemStore());
    await expect(retryJob(failed.deps, alice, JOB_ID)).resolves.toMatchObject({ job: { input, retryOf: JOB_ID } });
    for (const status of ['SUCCEEDED', 'CANCELLED'] as const) {
      const finished = setup(makeJob({ jobId: JOB_ID, robot: 'simple', status, input }), new MemoryItemStore());
      await expect(retryJob(finished.deps, alice, JOB_ID)).rejects.toBeInstanceOf(RetryNotPossible);
    }
  });
});
