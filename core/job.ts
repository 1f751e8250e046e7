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
  updatedAt: string;
  error?: JobError;
  artifacts: Artifact[];
  /** sha256 of the submission, to tell an idempotent replay from a conflicting reuse of a key. */
  requestHash: string;
  idempotencyKey?: string;
  executionArn?: string;
  /** The job this one retries (POST /jobs/{jobId}/retry): the original stays as it ended. */
  retryOf?: string;
  /** Outcome of the job.finished webhook to `callbackUrl`; never changes the job's status. */
  webhook?: WebhookDelivery;
}

export const WEBHOOK_DELIVERY_STATUSES = ['RETRYING', 'DELIVERED', 'FAILED'] as const;

export interface WebhookDelivery {
  /** RETRYING: the last attempt failed and the workflow will try again later. */
  status: (typeof WEBHOOK_DELIVERY_STATUSES)[number];
  attempts: number;
  lastAttemptAt: string;
  lastError?: string;
}

/** The job as clients see it: no owner, hashes, keys or execution ARNs. */
export type JobView = Omit<Job, 'owner' | 'requestHash' | 'idempotencyKey' | 'executionArn' | 'artifacts'> & {
  artifacts: ArtifactView[];
};

export type ArtifactView = Omit<Artifact, 'key'> & { url?: string };

export function toJobView(job: Job, urls: ReadonlyMap<string, string> = new Map()): JobView {
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
    ...(job.error ? { error: job.error } : {}),
    ...(job.retryOf ? { retryOf: job.retryOf } : {}),
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
