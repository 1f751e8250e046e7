import { IllegalTransition, JobNotFound } from '../../core/errors';
import { canTransition, type Artifact, type Job, type JobStatus, type WebhookDelivery } from '../../core/job';
import type { JobListQuery, JobPage, JobStore, TransitionChange } from '../../core/ports';
import type { ItemCountDelta } from '../../core/progress';

/** In-memory JobStore with the same conditional rules as the DynamoDB adapter, for unit tests. */
export class MemoryJobStore implements JobStore {
  readonly jobs = new Map<string, Job>();

  async create(job: Job): Promise<boolean> {
    if (this.jobs.has(job.jobId)) return false;
    this.jobs.set(job.jobId, structuredClone(job));
    return true;
  }

  async get(jobId: string): Promise<Job | undefined> {
    const job = this.jobs.get(jobId);
    return job && structuredClone(job);
  }

  async transition(jobId: string, to: JobStatus, change: TransitionChange): Promise<Job> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    if (!canTransition(job.status, to)) throw new IllegalTransition(`Job ${jobId} is ${job.status} and cannot become ${to}`);
    Object.assign(job, { status: to, updatedAt: change.now }, change.error ? { error: change.error } : {});
    if (change.attemptRuntime) Object.assign(job, { attempts: job.attempts + 1, lastAttemptRuntime: change.attemptRuntime, startedAt: job.startedAt ?? change.now });
    return structuredClone(job);
  }

  async setExecutionArn(jobId: string, executionArn: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    job.executionArn = executionArn;
  }

  async addArtifact(jobId: string, artifact: Artifact, now: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    if (job.status !== 'RUNNING') throw new IllegalTransition(`Job ${jobId} is ${job.status}`);
    job.artifacts = [...job.artifacts.filter((a) => a.name !== artifact.name), artifact];
    job.updatedAt = now;
  }

  async setWebhookDelivery(jobId: string, delivery: WebhookDelivery): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    job.webhook = structuredClone(delivery);
  }

  async setItemTotal(jobId: string, total: number): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    job.itemsTotal = total;
  }

  async countItems(jobId: string, delta: ItemCountDelta): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    job.itemsSucceeded = (job.itemsSucceeded ?? 0) + delta.succeeded;
    job.itemsFailed = (job.itemsFailed ?? 0) + delta.failed;
  }

  async countLogin(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    job.logins = (job.logins ?? 0) + 1;
  }

  async addRetry(jobId: string, retryJobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(jobId);
    if (!job.retries?.includes(retryJobId)) job.retries = [...(job.retries ?? []), retryJobId];
  }

  async list(query: JobListQuery): Promise<JobPage> {
    const all = [...this.jobs.values()]
      .filter((job) => (query.owner === undefined || job.owner === query.owner) && (!query.status || job.status === query.status))
      .sort((a, b) => `${b.createdAt}#${b.jobId}`.localeCompare(`${a.createdAt}#${a.jobId}`));
    const start = query.nextToken ? Number(query.nextToken) : 0;
    const jobs = all.slice(start, start + query.limit).map((job) => structuredClone(job));
    const next = start + query.limit;
    return { jobs, ...(next < all.length ? { nextToken: String(next) } : {}) };
  }
}

export function makeJob(overrides: Partial<Job> = {}): Job {
  const now = '2026-11-23T10:00:00.000Z';
  return {
    jobId: '00000000-0000-4000-8000-000000000001',
    owner: 'user-a',
    robot: 'web-snapshot',
    status: 'QUEUED',
    input: { url: 'https://example.com/', formats: ['pdf'] },
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    artifacts: [],
    requestHash: 'hash',
    ...overrides,
  };
}
