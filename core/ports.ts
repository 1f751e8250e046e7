import type { Artifact, AttemptRuntime, Job, JobError, JobStatus, WebhookDelivery } from './job';
import type { ItemCountDelta } from './progress';

/** Persistence of jobs. Every status change is one conditional write on one item. */
export interface JobStore {
  /** Writes a new job; false when a job with this id exists already (idempotent replay). */
  create(job: Job): Promise<boolean>;
  get(jobId: string): Promise<Job | undefined>;
  /**
   * Moves the job to `to` if its current status allows it (core/job.ts ALLOWED_SOURCES).
   * Throws JobNotFound or IllegalTransition; returns the job as written.
   */
  transition(jobId: string, to: JobStatus, change: TransitionChange): Promise<Job>;
  setExecutionArn(jobId: string, executionArn: string): Promise<void>;
  /** Appends an artifact while the job runs; replaces one of the same name (re-run of an attempt). */
  addArtifact(jobId: string, artifact: Artifact, now: string): Promise<void>;
  list(query: JobListQuery): Promise<JobPage>;
  /** Records the webhook outcome; allowed in every status (terminal ones included), status untouched. */
  setWebhookDelivery(jobId: string, delivery: WebhookDelivery): Promise<void>;
  /** Sets how many work items the job has (idempotent: the same items give the same total). */
  setItemTotal(jobId: string, total: number): Promise<void>;
  /** Records on the original job a retry job made of it (POST /jobs/{jobId}/retry); once per retry, in every status. */
  addRetry(jobId: string, retryJobId: string): Promise<void>;
  /** Moves the item counters by `delta` in one atomic ADD; in every status, so that a late checkpoint still counts. */
  countItems(jobId: string, delta: ItemCountDelta): Promise<void>;
  /** Counts one successful portal login in one atomic ADD; in every status, like countItems. */
  countLogin(jobId: string): Promise<void>;
}

export interface TransitionChange {
  now: string;
  error?: JobError;
  /** Counts a new robot attempt (→ RUNNING) and records the runtime it runs in. */
  attemptRuntime?: AttemptRuntime;
}

export interface JobListQuery {
  /** Only this owner's jobs; undefined lists everyone's (admins). */
  owner?: string;
  status?: JobStatus;
  limit: number;
  nextToken?: string;
}

export interface JobPage {
  jobs: Job[];
  nextToken?: string;
}

/** Starts the job workflow; idempotent per job id. Returns the execution ARN. */
export interface WorkflowStarter {
  start(jobId: string): Promise<string>;
}

/** Short-lived download links for artifacts. */
export interface ArtifactLinks {
  presign(key: string, downloadName: string): Promise<string>;
}

/** A kept portal session as the store holds it (runtime/portal-sessions.ts seals and opens it). */
export interface StoredPortalSession {
  key: string;
  /** The Encryption SDK message (header with the encryption context, then the sealed state). */
  blob: Uint8Array;
  /** Epoch seconds; also the table's TTL attribute (DynamoDB deletes lazily: opening checks it too). */
  expiresAt: number;
  /** New at every save, so that discarding an ended session never deletes a newer one. */
  version: string;
}

export interface PortalSessionStore {
  get(key: string): Promise<StoredPortalSession | undefined>;
  put(session: StoredPortalSession): Promise<void>;
  /** Deletes the session only while it is still `version`. */
  delete(key: string, version: string): Promise<void>;
}
