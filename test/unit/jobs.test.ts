import { testCredentialDeps } from '../support/memory-credential-store';
import { DEFAULT_JOB_TIMEOUTS } from '../../core/delivery';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { IdempotencyConflict, IllegalTransition, InputInvalid, JobNotFound, ServiceUnavailable } from '../../core/errors';
import type { Caller } from '../../core/job';
import {
  cancelJob,
  canonicalJson,
  failureOutcome,
  getJob,
  jobIdFromIdempotencyKey,
  listJobs,
  settleFailure,
  settleSuccess,
  submitJob,
  type RobotCatalog,
  type SubmitDeps,
} from '../../core/jobs';
import type { RobotDefinition } from '../../core/robot';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';

const echoRobot: RobotDefinition<{ url: string; count: number }> = {
  name: 'echo',
  version: '1.0.0',
  description: 'test robot',
  input: z.strictObject({ url: z.url(), count: z.number().int().min(1).default(1) }),
  run: async () => ({ status: 'SUCCEEDED' }),
};
const robots: RobotCatalog = { find: (name) => (name === 'echo' ? (echoRobot as RobotDefinition) : undefined), names: () => ['echo'] };
const alice: Caller = { sub: 'alice', isAdmin: false };
const bob: Caller = { sub: 'bob', isAdmin: false };
const admin: Caller = { sub: 'root', isAdmin: true };

describe('job use cases', () => {
  let store: MemoryJobStore;
  let deps: SubmitDeps & { workflow: { start: ReturnType<typeof vi.fn> } };
  const submission = { robot: 'echo', input: { url: 'https://example.com/' } };

  beforeEach(() => {
    store = new MemoryJobStore();
    deps = {
      store,
      robots,
      egressAllowHosts: [],
      timeouts: DEFAULT_JOB_TIMEOUTS, credentials: testCredentialDeps(),
      workflow: { start: vi.fn(async (jobId: string) => `arn:aws:states:local:0:execution:jobs:${jobId}`) },
    };
  });

  describe('submitJob', () => {
    it('queues a job owned by the caller, with defaults applied, and starts its workflow', async () => {
      const { job, replayed } = await submitJob(deps, alice, submission);

      expect(replayed).toBe(false);
      expect(job).toMatchObject({ robot: 'echo', status: 'QUEUED', attempts: 0, input: { url: 'https://example.com/', count: 1 }, artifacts: [] });
      expect(deps.workflow.start).toHaveBeenCalledWith(job.jobId);
      const stored = await store.get(job.jobId);
      expect(stored?.owner).toBe('alice');
      expect(stored?.executionArn).toContain(job.jobId);
    });

    it('gives the job the stage default timeout, or the one the submission asks for within the limit', async () => {
      const byDefault = await submitJob(deps, alice, submission);
      expect(byDefault.job.timeoutSeconds).toBe(DEFAULT_JOB_TIMEOUTS.defaultSeconds);
      const longer = await submitJob(deps, alice, { ...submission, timeoutSeconds: DEFAULT_JOB_TIMEOUTS.maxSeconds });
      expect((await store.get(longer.job.jobId))?.timeoutSeconds).toBe(DEFAULT_JOB_TIMEOUTS.maxSeconds);
    });

    it('keeps Idempotency-Key replays of default-timeout submissions matching, and tells another timeout apart', async () => {
      const first = await submitJob(deps, alice, submission, 'key-t');
      expect((await submitJob(deps, alice, { ...submission, timeoutSeconds: DEFAULT_JOB_TIMEOUTS.defaultSeconds }, 'key-t')).job.jobId).toBe(first.job.jobId);
      await expect(submitJob(deps, alice, { ...submission, timeoutSeconds: 60 }, 'key-t')).rejects.toBeInstanceOf(IdempotencyConflict);
    });

    it('names the offending field when the input fails the robot schema', async () => {
      const error = await submitJob(deps, alice, { robot: 'echo', input: { url: 'not a url', count: 0 } }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(InputInvalid);
      const fields = ((error as InputInvalid).details as { fields: Array<{ field: string }> }).fields.map((f) => f.field);
      expect(fields).toEqual(expect.arrayContaining(['input.url', 'input.count']));
      expect(store.jobs.size).toBe(0);
    });

    it.each([
      ['an unknown robot', { robot: 'nope', input: {} }, 'robot'],
      ['an unknown top-level field', { ...submission, extra: 1 }, '(root)'],
      ['a non-object body', [1, 2], '(root)'],
      ['a callback to a private address', { ...submission, callbackUrl: 'http://10.0.0.1/hook' }, 'callbackUrl'],
      ['a timeout above the stage limit', { ...submission, timeoutSeconds: DEFAULT_JOB_TIMEOUTS.maxSeconds + 1 }, 'timeoutSeconds'],
      ['a timeout too short to log in', { ...submission, timeoutSeconds: 5 }, 'timeoutSeconds'],
      ['a fractional timeout', { ...submission, timeoutSeconds: 60.5 }, 'timeoutSeconds'],
    ])('refuses %s', async (_label, body, field) => {
      const error = (await submitJob(deps, alice, body).catch((e: unknown) => e)) as InputInvalid;
      expect(error).toBeInstanceOf(InputInvalid);
      expect(JSON.stringify(error.details)).toContain(`"field":"${field}"`);
    });

    it('returns the same job for the same Idempotency-Key and body, whatever the key order', async () => {
      const first = await submitJob(deps, alice, submission, 'key-1');
      const again = await submitJob(deps, alice, { input: { url: 'https://example.com/' }, robot: 'echo' }, 'key-1');

      expect(again.replayed).toBe(true);
      expect(again.job.jobId).toBe(first.job.jobId);
      expect(store.jobs.size).toBe(1);
      expect(deps.workflow.start).toHaveBeenCalledTimes(1);
    });

    it('refuses the same Idempotency-Key with another body (409)', async () => {
      await submitJob(deps, alice, submission, 'key-1');
      await expect(submitJob(deps, alice, { robot: 'echo', input: { url: 'https://other.example/' } }, 'key-1')).rejects.toBeInstanceOf(
        IdempotencyConflict,
      );
    });

    it('scopes Idempotency-Keys per caller', async () => {
      const mine = await submitJob(deps, alice, submission, 'shared-key');
      const theirs = await submitJob(deps, bob, submission, 'shared-key');
      expect(theirs.job.jobId).not.toBe(mine.job.jobId);
      expect(jobIdFromIdempotencyKey('alice', 'shared-key')).toBe(mine.job.jobId);
    });

    it('refuses a malformed Idempotency-Key', async () => {
      await expect(submitJob(deps, alice, submission, 'has spaces')).rejects.toBeInstanceOf(InputInvalid);
    });

    it('fails a keyless job that could not be started, so it never stays QUEUED', async () => {
      deps.workflow.start.mockRejectedValueOnce(new Error('throttled'));

      await expect(submitJob(deps, alice, submission)).rejects.toBeInstanceOf(ServiceUnavailable);
      const [job] = store.jobs.values();
      expect(job?.status).toBe('FAILED');
      expect(job?.error).toMatchObject({ type: 'TECHNICAL', code: 'WORKFLOW_START_FAILED' });
    });

    it('starts the workflow on replay when the first attempt could not', async () => {
      deps.workflow.start.mockRejectedValueOnce(new Error('throttled'));
      await expect(submitJob(deps, alice, submission, 'retry-me')).rejects.toBeInstanceOf(ServiceUnavailable);

      const replay = await submitJob(deps, alice, submission, 'retry-me');

      expect(replay.job.status).toBe('QUEUED');
      expect(deps.workflow.start).toHaveBeenCalledTimes(2);
      expect((await store.get(replay.job.jobId))?.executionArn).toBeDefined();
    });
  });

  describe('reading and cancelling', () => {
    const links = { presign: vi.fn(async (key: string) => `https://signed.example/${key}?sig=1`) };

    it('shows the owner their job with presigned artifact links, and hides keys', async () => {
      const job = makeJob({
        owner: 'alice',
        status: 'SUCCEEDED',
        artifacts: [{ name: 'snapshot.pdf', contentType: 'application/pdf', size: 10, sha256: 'ab', key: 'jobs/1/snapshot.pdf' }],
      });
      await store.create(job);

      const view = await getJob({ store, links }, alice, job.jobId);

      expect(view.artifacts).toEqual([
        { name: 'snapshot.pdf', contentType: 'application/pdf', size: 10, sha256: 'ab', url: 'https://signed.example/jobs/1/snapshot.pdf?sig=1' },
      ]);
      expect(view).not.toHaveProperty('owner');
      expect(view).not.toHaveProperty('requestHash');
    });

    it("answers another caller's job exactly like a missing one", async () => {
      const job = makeJob({ owner: 'alice' });
      await store.create(job);

      await expect(getJob({ store, links }, bob, job.jobId)).rejects.toBeInstanceOf(JobNotFound);
      await expect(getJob({ store, links }, bob, 'not-a-uuid')).rejects.toBeInstanceOf(JobNotFound);
      await expect(cancelJob(store, bob, job.jobId)).rejects.toBeInstanceOf(JobNotFound);
      await expect(getJob({ store, links }, admin, job.jobId)).resolves.toMatchObject({ jobId: job.jobId });
    });

    it('lists only the caller’s jobs, admins everyone’s, with a status filter', async () => {
      await store.create(makeJob({ jobId: '00000000-0000-4000-8000-00000000000a', owner: 'alice', createdAt: '2026-01-01T00:00:00Z' }));
      await store.create(makeJob({ jobId: '00000000-0000-4000-8000-00000000000b', owner: 'alice', createdAt: '2026-01-02T00:00:00Z', status: 'FAILED' }));
      await store.create(makeJob({ jobId: '00000000-0000-4000-8000-00000000000c', owner: 'bob' }));

      expect((await listJobs(store, alice, {})).jobs.map((j) => j.jobId.slice(-1))).toEqual(['b', 'a']);
      expect((await listJobs(store, admin, {})).jobs).toHaveLength(3);
      expect((await listJobs(store, alice, { status: 'FAILED' })).jobs.map((j) => j.status)).toEqual(['FAILED']);
      await expect(listJobs(store, alice, { limit: '0' })).rejects.toBeInstanceOf(InputInvalid);
      await expect(listJobs(store, alice, { status: 'DONE' })).rejects.toBeInstanceOf(InputInvalid);
    });

    it('cancels a queued job and refuses to cancel a finished one', async () => {
      await store.create(makeJob({ owner: 'alice' }));
      await store.create(makeJob({ jobId: '00000000-0000-4000-8000-000000000002', owner: 'alice', status: 'SUCCEEDED' }));

      await expect(cancelJob(store, alice, '00000000-0000-4000-8000-000000000001')).resolves.toMatchObject({ status: 'CANCELLED' });
      await expect(cancelJob(store, alice, '00000000-0000-4000-8000-000000000002')).rejects.toBeInstanceOf(IllegalTransition);
    });
  });

  describe('settling from the workflow', () => {
    it('settles success as reported, and leaves a job cancelled meanwhile untouched', async () => {
      await store.create(makeJob({ status: 'RUNNING' }));
      await store.create(makeJob({ jobId: '00000000-0000-4000-8000-000000000002', status: 'CANCELLED' }));

      await expect(settleSuccess(store, { jobId: makeJob().jobId, result: { status: 'PARTIAL', artifactCount: 1 } })).resolves.toMatchObject({ status: 'PARTIAL' });
      await expect(
        settleSuccess(store, { jobId: '00000000-0000-4000-8000-000000000002', result: { status: 'SUCCEEDED', artifactCount: 1 } }),
      ).resolves.toMatchObject({ status: 'CANCELLED' });
    });

    it('settles a business failure with the robot’s code and message', async () => {
      await store.create(makeJob({ status: 'RUNNING' }));

      const job = await settleFailure(store, {
        jobId: makeJob().jobId,
        failure: { Error: 'Robot.Business', Cause: JSON.stringify({ code: 'PAGE_NOT_FOUND', message: 'HTTP 404' }) },
      });

      expect(job.status).toBe('FAILED');
      expect(job.error).toEqual({ type: 'BUSINESS', code: 'PAGE_NOT_FOUND', message: 'HTTP 404' });
    });

    it.each([
      ['Robot.Timeout', 'TIMED_OUT', 'JOB_TIMEOUT'],
      ['States.Timeout', 'TIMED_OUT', 'NEVER_REPORTED'],
      ['Robot.Technical', 'FAILED', 'Robot.Technical'],
      ['Robot.Cancelled', 'CANCELLED', undefined],
    ])('maps %s to %s', (error, status, code) => {
      const outcome = failureOutcome({ Error: error, Cause: 'plain text cause' });
      expect(outcome.status).toBe(status);
      expect(outcome.error?.code).toBe(code);
    });
  });

  it('hashes bodies independently of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } })).toBe('{"a":{"c":[3,{"e":2,"f":1}],"d":2},"b":1}');
  });
});
