import { createHash, randomUUID } from 'node:crypto';
import * as z from 'zod';
import { IdempotencyConflict, IllegalTransition, InputInvalid, JobNotFound, ServiceUnavailable } from './errors';
import { checkCredentialUses, type CredentialDeps } from './credentials';
import { MIN_JOB_TIMEOUT_SECONDS, type JobTimeouts } from './delivery';
import { staticEgressViolation } from './egress-guard';
import {
  ALLOWED_SOURCES,
  JOB_STATUSES,
  canSee,
  isTerminal,
  toJobView,
  type Artifact,
  type AttemptRuntime,
  type Caller,
  type Job,
  type JobError,
  type JobStatus,
  type JobView,
} from './job';
import type { ArtifactLinks, JobStore, WorkflowStarter } from './ports';
import type { RobotDefinition } from './robot';
import { parseOrThrow } from './validation';
import { RobotErrorName, type FailInput, type FinalizeInput, type SettleOutput } from './workflow-contract';

/**
 * The job use cases. Handlers, the worker and the workflow steps call these; the adapters they
 * pass in decide where the data lives (DynamoDB/S3/Step Functions, or their local emulations).
 */
export interface RobotCatalog {
  find(name: string): RobotDefinition | undefined;
  names(): string[];
}

export interface SubmitDeps {
  store: JobStore;
  workflow: WorkflowStarter;
  robots: RobotCatalog;
  /** Hosts the egress guard lets through although private (the local sandbox). */
  egressAllowHosts: readonly string[];
  /** The stage's default and largest job timeoutSeconds. */
  timeouts: JobTimeouts;
  /** Where the portal credentials jobs name are looked up (their binding, never their value). */
  credentials: CredentialDeps;
  now?: () => Date;
}

export interface SubmitResult {
  job: JobView;
  /** true when an Idempotency-Key replay returned the job created earlier. */
  replayed: boolean;
}

/** A JSON job submission; lib/api.ts also derives API Gateway's request model from it. */
export const submissionSchema = z.strictObject({
  robot: z.string().min(1).max(64),
  input: z.record(z.string(), z.unknown()).default({}),
  callbackUrl: z.url({ protocol: /^https?$/ }).max(2048).optional(),
  /** The job's own bound (core/job.ts); the stage's limits are checked in validateSubmission. */
  timeoutSeconds: z.number().int().min(MIN_JOB_TIMEOUT_SECONDS).optional(),
});

export const idempotencyKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -');

export const jobIdSchema = z.uuid();

export async function submitJob(deps: SubmitDeps, caller: Caller, body: unknown, idempotencyKey?: string): Promise<SubmitResult> {
  return queueJob(deps, caller, { owner: caller.sub, ...validateSubmission(deps, body) }, idempotencyKey);
}

export interface ValidSubmission {
  robot: RobotDefinition;
  input: Record<string, unknown>;
  callbackUrl?: string;
  timeoutSeconds: number;
}

/**
 * `{robot, input, callbackUrl?, timeoutSeconds?}` checked against the catalog, the robot's input
 * schema, the egress guard and the stage's timeout limit.
 */
export function validateSubmission(deps: Pick<SubmitDeps, 'robots' | 'egressAllowHosts' | 'timeouts'>, body: unknown): ValidSubmission {
  const submission = parseOrThrow(submissionSchema, body, 'Job submission is invalid');
  const { maxSeconds, defaultSeconds } = deps.timeouts;
  if (submission.timeoutSeconds !== undefined && submission.timeoutSeconds > maxSeconds) {
    throw new InputInvalid('timeoutSeconds is too large', { fields: [{ field: 'timeoutSeconds', message: `must be at most ${maxSeconds} (this stage's limit)` }] });
  }
  const robot = deps.robots.find(submission.robot);
  if (!robot) {
    throw new InputInvalid(`Unknown robot "${submission.robot}"`, {
      fields: [{ field: 'robot', message: `must be one of: ${deps.robots.names().join(', ')}` }],
    });
  }
  const input = parseOrThrow(robot.input, submission.input, `Input for robot ${robot.name} is invalid`, 'input') as Record<string, unknown>;
  if (submission.callbackUrl) {
    const violation = staticEgressViolation(submission.callbackUrl, deps.egressAllowHosts);
    if (violation) throw new InputInvalid('callbackUrl is not allowed', { fields: [{ field: 'callbackUrl', message: violation }] });
  }
  return { robot, input, ...(submission.callbackUrl ? { callbackUrl: submission.callbackUrl } : {}), timeoutSeconds: submission.timeoutSeconds ?? defaultSeconds };
}

/** A validated request for a new job. */
export interface JobRequest {
  /** Whose job it is: the caller, or the original owner when an admin retries someone's job. */
  owner: string;
  robot: RobotDefinition;
  input: Record<string, unknown>;
  callbackUrl?: string;
  timeoutSeconds: number;
  retryOf?: string;
}

/**
 * Creates the job and starts its workflow; with an Idempotency-Key (scoped to the caller who
 * sends it) a replay returns the job that key created before.
 */
export async function queueJob(deps: SubmitDeps, caller: Caller, request: JobRequest, idempotencyKey?: string): Promise<SubmitResult> {
  const { robot, input, callbackUrl, timeoutSeconds, retryOf } = request;
  const key = idempotencyKey === undefined ? undefined : parseOrThrow(idempotencyKeySchema, idempotencyKey, 'Idempotency-Key is invalid', 'Idempotency-Key');
  await checkRobotCredentials(deps, request.owner, robot, input);

  const now = (deps.now ?? (() => new Date()))().toISOString();
  const job: Job = {
    jobId: key ? jobIdFromIdempotencyKey(caller.sub, key) : randomUUID(),
    owner: request.owner,
    robot: robot.name,
    status: 'QUEUED',
    input,
    ...(callbackUrl ? { callbackUrl } : {}),
    timeoutSeconds,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    artifacts: [],
    // A default timeout stays out of the hash, so that hashes of jobs from before timeoutSeconds still match their replays.
    requestHash: sha256Hex(
      canonicalJson({
        robot: robot.name,
        input,
        callbackUrl: callbackUrl ?? null,
        ...(timeoutSeconds === deps.timeouts.defaultSeconds ? {} : { timeoutSeconds }),
        ...(retryOf ? { retryOf } : {}),
      }),
    ),
    ...(key ? { idempotencyKey: key } : {}),
    ...(retryOf ? { retryOf } : {}),
  };

  if (await deps.store.create(job)) {
    await startWorkflow(deps, job, now);
    return { job: toJobView(job), replayed: false };
  }
  const existing = await deps.store.get(job.jobId);
  if (!existing) throw new ServiceUnavailable('Job was created concurrently; retry the request');
  if (existing.requestHash !== job.requestHash) {
    throw new IdempotencyConflict('Idempotency-Key was already used with a different request body');
  }
  // A replay after the workflow failed to start: start it now (StartExecution is idempotent per job).
  if (existing.status === 'QUEUED' && !existing.executionArn) await startWorkflow(deps, existing, now);
  return { job: toJobView(existing), replayed: true };
}

/** Refused at submit with a 400, not later as a FAILED job: see core/credentials.ts. */
export async function checkRobotCredentials(deps: Pick<SubmitDeps, 'credentials'>, owner: string, robot: RobotDefinition, input: unknown): Promise<void> {
  const uses = robot.credentialUses?.(input) ?? [];
  if (uses.length > 0) await checkCredentialUses(deps.credentials, owner, uses);
}

async function startWorkflow(deps: SubmitDeps, job: Job, now: string): Promise<void> {
  try {
    const executionArn = await deps.workflow.start(job.jobId);
    await deps.store.setExecutionArn(job.jobId, executionArn);
  } catch (error) {
    if (!job.idempotencyKey) {
      // Without a key the client cannot resume this job, so it must not stay QUEUED forever.
      await deps.store.transition(job.jobId, 'FAILED', {
        now,
        error: { type: 'TECHNICAL', code: 'WORKFLOW_START_FAILED', message: 'The job could not be started' },
      });
    }
    throw new ServiceUnavailable(
      job.idempotencyKey ? 'The job could not be started; retry with the same Idempotency-Key' : 'The job could not be started; retry the submission',
      undefined,
      { cause: error },
    );
  }
}

export interface ReadDeps {
  store: JobStore;
  links: ArtifactLinks;
}

export async function getJob(deps: ReadDeps, caller: Caller, jobId: string): Promise<JobView> {
  const job = await findVisibleJob(deps.store, caller, jobId);
  const urls = new Map<string, string>();
  await Promise.all(job.artifacts.map(async (artifact) => urls.set(artifact.key, await deps.links.presign(artifact.key, artifact.name))));
  return toJobView(job, urls);
}

export const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  nextToken: z.string().min(1).max(2048).optional(),
  status: z.enum(JOB_STATUSES).optional(),
});

export interface JobListView {
  jobs: JobView[];
  nextToken?: string;
}

export async function listJobs(store: JobStore, caller: Caller, query: Record<string, string | undefined>): Promise<JobListView> {
  const { limit, nextToken, status } = parseOrThrow(listQuerySchema, query, 'Query parameters are invalid');
  const page = await store.list({
    ...(caller.isAdmin ? {} : { owner: caller.sub }),
    ...(status ? { status } : {}),
    ...(nextToken ? { nextToken } : {}),
    limit,
  });
  // Admins see whose job each is (the owner's Cognito sub); others only ever list their own.
  const view = (job: Job): JobView => (caller.isAdmin ? { ...toJobView(job), owner: job.owner } : toJobView(job));
  return { jobs: page.jobs.map(view), ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
}

export async function cancelJob(store: JobStore, caller: Caller, jobId: string, now = new Date()): Promise<JobView> {
  const job = await findVisibleJob(store, caller, jobId);
  if (!ALLOWED_SOURCES.CANCELLED.includes(job.status)) {
    throw new IllegalTransition(`Job is ${job.status}; only ${ALLOWED_SOURCES.CANCELLED.join(' or ')} jobs can be cancelled`);
  }
  return toJobView(await store.transition(jobId, 'CANCELLED', { now: now.toISOString() }));
}

export async function findVisibleJob(store: JobStore, caller: Caller, jobId: string): Promise<Job> {
  // Someone else's job answers exactly like a missing one, so ids cannot be probed.
  const job = jobIdSchema.safeParse(jobId).success ? await store.get(jobId) : undefined;
  if (!job || !canSee(caller, job)) throw new JobNotFound(jobId);
  return job;
}

/** A runtime takes the job: QUEUED|RUNNING → RUNNING, counting an attempt run there. */
export function beginAttempt(store: JobStore, jobId: string, runtime: AttemptRuntime, now = new Date()): Promise<Job> {
  return store.transition(jobId, 'RUNNING', { now: now.toISOString(), attemptRuntime: runtime });
}

export function recordArtifact(store: JobStore, jobId: string, artifact: Artifact, now = new Date()): Promise<void> {
  return store.addArtifact(jobId, artifact, now.toISOString());
}

/** FinalizeJob step: the robot reported success. A job already terminal (cancelled) stays as it is. */
export async function settleSuccess(store: JobStore, { jobId, result }: FinalizeInput, now = new Date()): Promise<Job> {
  return settle(store, jobId, result.status, undefined, now);
}

/** FailJob step: map the workflow's Error/Cause to the job's final status and error. */
export async function settleFailure(store: JobStore, { jobId, failure }: FailInput, now = new Date()): Promise<Job> {
  const { status, error } = failureOutcome(failure);
  return settle(store, jobId, status, error, now);
}

/** What the settle steps hand back to the workflow. */
export function toSettleOutput(job: Job): SettleOutput {
  return { jobId: job.jobId, status: job.status, ...(job.error ? { error: job.error } : {}), hasCallback: job.callbackUrl !== undefined };
}

async function settle(store: JobStore, jobId: string, status: JobStatus, error: JobError | undefined, now: Date): Promise<Job> {
  try {
    return await store.transition(jobId, status, { now: now.toISOString(), ...(error ? { error } : {}) });
  } catch (caught) {
    // First writer wins: a job already settled (e.g. cancelled meanwhile) is left untouched.
    const current = caught instanceof IllegalTransition ? await store.get(jobId) : undefined;
    if (current && isTerminal(current.status)) return current;
    throw caught;
  }
}

export function failureOutcome(failure: FailInput['failure']): { status: JobStatus; error?: JobError } {
  const reported = parseCause(failure.Cause);
  switch (failure.Error) {
    case RobotErrorName.cancelled:
      return { status: 'CANCELLED' };
    case RobotErrorName.business:
      return { status: 'FAILED', error: { type: 'BUSINESS', code: reported.code ?? 'BUSINESS_ERROR', message: reported.message } };
    case RobotErrorName.timeout:
      return { status: 'TIMED_OUT', error: { type: 'TECHNICAL', code: reported.code ?? 'JOB_TIMEOUT', message: reported.message } };
    case 'States.Timeout':
      // The RunRobot backstop (core/delivery.ts): the queue no longer holds the job's message.
      return {
        status: 'TIMED_OUT',
        error: { type: 'TECHNICAL', code: 'NEVER_REPORTED', message: 'No robot reported on the job within the robot queue’s message retention; its message expired' },
      };
    default:
      return { status: 'FAILED', error: { type: 'TECHNICAL', code: reported.code ?? failure.Error ?? 'TECHNICAL_ERROR', message: reported.message } };
  }
}

/** The worker reports failures as Cause = JSON {code, message}; anything else is kept as text. */
function parseCause(cause: string | undefined): { code?: string; message: string } {
  if (!cause) return { message: 'The robot failed without a reason' };
  try {
    const parsed = JSON.parse(cause) as { code?: unknown; message?: unknown };
    if (typeof parsed.message === 'string') return { ...(typeof parsed.code === 'string' ? { code: parsed.code } : {}), message: parsed.message };
  } catch {
    // not JSON: fall through
  }
  return { message: cause.slice(0, 1000) };
}


/** The same owner and key always name the same job, which makes replays a plain conditional put. */
export function jobIdFromIdempotencyKey(owner: string, key: string): string {
  return nameBasedUuid(`${owner}\n${key}`);
}

/** A UUID derived from `name` (sha256, version nibble 5, variant 8): the same name, the same id. */
export function nameBasedUuid(name: string): string {
  const hex = sha256Hex(name);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** JSON with object keys sorted, so equal bodies hash equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
