/**
 * The job model and its state machine. Pure: no I/O, no AWS imports.
 *
 *   QUEUED ──► RUNNING ──► SUCCEEDED | PARTIAL | FAILED | TIMED_OUT
 *     │  └──────────────────► FAILED | TIMED_OUT
 *     └─────────┴──► CANCELLED
 *
 * RUNNING → RUNNING is a new attempt (redelivery, workflow retry). Terminal states are
 * immutable: the first writer wins, every later writer gets IllegalTransition.
 */
export const JOB_STATUSES = [
  'QUEUED',
  'RUNNING',
  'SUCCEEDED',
  'PARTIAL',
  'FAILED',
  'CANCELLED',
  'TIMED_OUT',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED', 'TIMED_OUT'];

/** For each target status, the statuses a job may be in to move there. */
export const ALLOWED_SOURCES: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  QUEUED: [],
  RUNNING: ['QUEUED', 'RUNNING'],
  SUCCEEDED: ['RUNNING'],
  PARTIAL: ['RUNNING'],
  FAILED: ['QUEUED', 'RUNNING'],
  CANCELLED: ['QUEUED', 'RUNNING'],
  TIMED_OUT: ['QUEUED', 'RUNNING'],
};

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return ALLOWED_SOURCES[to].includes(from);
}

export type ErrorType = 'BUSINESS' | 'TECHNICAL';

/** Where a robot attempt ran: the worker fleet, or the DLQ reprocessor's last attempt. */
export const ATTEMPT_RUNTIMES = ['fargate', 'lambda'] as const;
export type AttemptRuntime = (typeof ATTEMPT_RUNTIMES)[number];

export interface JobError {
  type: ErrorType;
  code: string;
  message: string;
}

export interface Artifact {
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  /** S3 object key; never shown to clients, who get a presigned `url` instead. */
  key: string;
}

export interface Job {
  jobId: string;
  owner: string;
  robot: string;
  status: JobStatus;
  input: Record<string, unknown>;
  callbackUrl?: string;
  /**
   * The job's own bound: robot time one attempt may take before the job ends TIMED_OUT (time spent
   * waiting for a worker does not count). Unset on jobs stored before it existed.
   */
  timeoutSeconds?: number;
  attempts: number;
  /** Where the latest attempt ran; unset until the first attempt. */
  lastAttemptRuntime?: AttemptRuntime;
  createdAt: string;
  /** When the first attempt started; unset before. */
  startedAt?: string;
  updatedAt: string;
  error?: JobError;
  artifacts: Artifact[];
  /** sha256 of the submission, to tell an idempotent replay from a conflicting reuse of a key. */
  requestHash: string;
  idempotencyKey?: string;
  executionArn?: string;
  /** The job this one retries (POST /jobs/{jobId}/retry): the original stays as it ended. */
  retryOf?: string;
  /** Jobs made by retrying this one, oldest first: the other direction of `retryOf`. */
  retries?: string[];
  /** Outcome of the job.finished webhook to `callbackUrl`; never changes the job's status. */
  webhook?: WebhookDelivery;
  /** Item robots: counters of the job's items (core/progress.ts), set and moved atomically, never counted by a scan. */
  itemsTotal?: number;
  itemsSucceeded?: number;
  itemsFailed?: number;
  /** Successful portal logins of the job's attempts (atomic ADD); kept sessions spare most of them (runtime/portal-sessions.ts). */
  logins?: number;
  /** Counts the writes of this job (1 at creation): live events carry it so clients drop stale frames (core/job-events.ts). */
  version?: number;
}

export const WEBHOOK_DELIVERY_STATUSES = ['RETRYING', 'DELIVERED', 'FAILED'] as const;

export interface WebhookDelivery {
  /** RETRYING: the last attempt failed and the workflow will try again later. */
  status: (typeof WEBHOOK_DELIVERY_STATUSES)[number];
  attempts: number;
  lastAttemptAt: string;
  lastError?: string;
}

/** Progress of an item robot's job, from the counters on the job record (core/progress.ts). */
export interface JobProgress {
  total: number;
  succeeded: number;
  failed: number;
  /** total - succeeded - failed: items not done yet, running ones included. */
  pending: number;
  /** Items done per minute since the job started, one decimal. */
  itemsPerMinute: number;
  /** Seconds until the pending items are done at that rate; absent when it cannot be told. */
  etaSeconds?: number;
}

/** The job's progress as clients see it; undefined for jobs without items (simple robots, or not planned yet). */
export function jobProgress(job: Pick<Job, 'status' | 'startedAt' | 'updatedAt' | 'itemsTotal' | 'itemsSucceeded' | 'itemsFailed'>, now: Date): JobProgress | undefined {
  if (job.itemsTotal === undefined) return undefined;
  const succeeded = job.itemsSucceeded ?? 0;
  const failed = job.itemsFailed ?? 0;
  const pending = Math.max(0, job.itemsTotal - succeeded - failed);
  const terminal = isTerminal(job.status);
  // A finished job's rate is over its run, not over the time since.
  const until = terminal ? Date.parse(job.updatedAt) : now.getTime();
  const minutes = job.startedAt ? (until - Date.parse(job.startedAt)) / 60_000 : 0;
  const rate = minutes > 0 ? (succeeded + failed) / minutes : 0;
  const itemsPerMinute = Math.round(rate * 10) / 10;
  const etaSeconds = !terminal && rate > 0 ? Math.round((pending / rate) * 60) : undefined;
  return { total: job.itemsTotal, succeeded, failed, pending, itemsPerMinute, ...(etaSeconds === undefined ? {} : { etaSeconds }) };
}

/** The job as clients see it: no owner, hashes, keys or execution ARNs; item counters as `progress`. */
export type JobView = Omit<Job, 'owner' | 'requestHash' | 'idempotencyKey' | 'executionArn' | 'artifacts' | 'itemsTotal' | 'itemsSucceeded' | 'itemsFailed' | 'logins' | 'version'> & {
  /** Portal logins so far; shown for jobs with items (0 when every attempt started from a kept session). */
  logins?: number;
  progress?: JobProgress;
  artifacts: ArtifactView[];
  /** Only in admins' listings (GET /jobs): whose job it is. */
  owner?: string;
};

export type ArtifactView = Omit<Artifact, 'key'> & { url?: string };

/** `now` dates the progress rate and ETA of a job still running. */
export function toJobView(job: Job, urls: ReadonlyMap<string, string> = new Map(), now = new Date()): JobView {
  const progress = jobProgress(job, now);
  return {
    jobId: job.jobId,
    robot: job.robot,
    status: job.status,
    input: job.input,
    ...(job.callbackUrl ? { callbackUrl: job.callbackUrl } : {}),
    ...(job.timeoutSeconds ? { timeoutSeconds: job.timeoutSeconds } : {}),
    attempts: job.attempts,
    ...(job.lastAttemptRuntime ? { lastAttemptRuntime: job.lastAttemptRuntime } : {}),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.startedAt ? { startedAt: job.startedAt } : {}),
    ...(progress ? { progress } : {}),
    ...(progress || job.logins !== undefined ? { logins: job.logins ?? 0 } : {}),
    ...(job.error ? { error: job.error } : {}),
    ...(job.retryOf ? { retryOf: job.retryOf } : {}),
    ...(job.retries?.length ? { retries: job.retries } : {}),
    ...(job.webhook ? { webhook: job.webhook } : {}),
    artifacts: job.artifacts.map(({ name, contentType, size, sha256, key }) => {
      const url = urls.get(key);
      return { name, contentType, size, sha256, ...(url ? { url } : {}) };
    }),
  };
}

/** Cognito group whose members see and manage every owner's jobs. */
export const ADMINS_GROUP = 'admins';

/** Who is asking: the Cognito `sub` and whether the caller is in the `admins` group. */
export interface Caller {
  sub: string;
  isAdmin: boolean;
}

export function canSee(caller: Caller, job: Job): boolean {
  return caller.isAdmin || caller.sub === job.owner;
}
