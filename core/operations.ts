import * as z from 'zod';
import { ForbiddenAction } from './errors';
import { isTerminal, jobProgress, type Caller, type Job, type JobProgress, type JobStatus } from './job';
import type { PortalSessionCaps } from './portal-session-caps';
import { sessionCapOf } from './portal-session-caps';
import type { JobStore } from './ports';
import { parseOrThrow } from './validation';

/**
 * The operations view of the admin console (GET /ops/overview, GET /ops/dlq, POST /ops/dlq/redrive):
 * what is queued, running and dead-lettered, which portal session slots are held, how much finished
 * in the last hour, and moving dead letters back to the robot queue. Admins only.
 */

/** Counts SQS reports for a queue (GetQueueAttributes): approximate, as SQS says. */
export interface QueueDepth {
  /** Waiting to be received. */
  visible: number;
  /** Received by a consumer and not yet deleted: jobs a worker (or the DLQ reprocessor) holds. */
  inFlight: number;
  delayed: number;
}

/** A message of the robot DLQ, read without taking it (it is visible again at once). */
export interface DeadLetter {
  messageId: string;
  body: string;
  /** How often the message was received, in the robot queue and here. */
  receiveCount: number;
  /** When the message was first sent (to the robot queue: SQS keeps it when dead-lettering). */
  sentAt?: string;
}

/** The robot queue and its DLQ as the operations routes need them (core/adapters/sqs-robot-queues.ts). */
export interface RobotQueues {
  depth(queue: 'robot' | 'deadLetter'): Promise<QueueDepth>;
  /** Up to `max` dead letters, left in the DLQ. */
  peekDeadLetters(max: number): Promise<DeadLetter[]>;
  /**
   * Moves dead letters back to the robot queue: the one with `messageId`, or all of them. Each is
   * sent again before it is deleted from the DLQ, so a crash in between can only duplicate a
   * message, which the robot runtime's item checkpoints make harmless. Returns the ids moved.
   */
  redrive(messageId?: string): Promise<string[]>;
}

/** A held portal session slot (core/portal-lease.ts). */
export interface HeldSlot {
  host: string;
  slot: number;
  /** The job holding it. */
  holder: string;
  expiresAt: string;
}

export interface PortalSlotReader {
  /** Slots held now (not expired). */
  listHeld(nowSeconds: number): Promise<HeldSlot[]>;
}

export interface OperationsDeps {
  jobs: JobStore;
  queues: RobotQueues;
  slots: PortalSlotReader;
  sessionCaps: PortalSessionCaps;
  now?: () => Date;
}

/** Bounds of the jobs-table reads behind the overview: a few queries, never a table scan. */
const RECENT_JOBS_PAGE = 100;
const MAX_RECENT_PAGES = 10;
const MAX_LISTED_JOBS = 100;
const THROUGHPUT_WINDOW_MINUTES = 60;
/** Jobs finished in the window were created at most this long before it (the largest job timeout and then some). */
const THROUGHPUT_LOOKBACK_HOURS = 24;

export interface InFlightJob {
  jobId: string;
  owner: string;
  robot: string;
  status: JobStatus;
  attempts: number;
  createdAt: string;
  startedAt?: string;
  lastAttemptRuntime?: string;
  progress?: JobProgress;
}

export interface OperationsOverview {
  generatedAt: string;
  queues: {
    robot: QueueDepth & { oldestQueuedJobAgeSeconds?: number };
    deadLetter: QueueDepth;
  };
  /** RUNNING jobs, newest first, at most 100. */
  inFlight: InFlightJob[];
  /** Jobs that ended within the last hour (by the time of their last change). */
  throughput: { windowMinutes: number; jobsFinished: number; itemsFinished: number; byStatus: Partial<Record<JobStatus, number>> };
  /** Every host with held slots: how many of its cap are held, and by which jobs. */
  portalSlots: Array<{ host: string; cap: number; held: number; holders: Array<{ slot: number; jobId: string; expiresAt: string }> }>;
}

export function requireAdmin(caller: Caller): void {
  if (!caller.isAdmin) throw new ForbiddenAction('Only administrators may use the operations routes');
}

export async function operationsOverview(deps: OperationsDeps, caller: Caller): Promise<OperationsOverview> {
  requireAdmin(caller);
  const now = (deps.now ?? (() => new Date()))();
  const [robot, deadLetter, running, queued, recent, held] = await Promise.all([
    deps.queues.depth('robot'),
    deps.queues.depth('deadLetter'),
    deps.jobs.list({ status: 'RUNNING', limit: MAX_LISTED_JOBS }),
    deps.jobs.list({ status: 'QUEUED', limit: MAX_LISTED_JOBS }),
    recentJobs(deps.jobs, new Date(now.getTime() - THROUGHPUT_LOOKBACK_HOURS * 3_600_000)),
    deps.slots.listHeld(Math.floor(now.getTime() / 1000)),
  ]);
  // Listings are newest first: the last QUEUED job listed is the oldest one waiting (of the newest 100).
  const oldestQueued = queued.jobs.at(-1);
  return {
    generatedAt: now.toISOString(),
    queues: {
      robot: { ...robot, ...(oldestQueued ? { oldestQueuedJobAgeSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(oldestQueued.createdAt)) / 1000)) } : {}) },
      deadLetter,
    },
    inFlight: running.jobs.map((job) => inFlightView(job, now)),
    throughput: throughputOf(recent, now),
    portalSlots: slotsByHost(held, deps.sessionCaps),
  };
}

async function recentJobs(store: JobStore, since: Date): Promise<Job[]> {
  const jobs: Job[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_RECENT_PAGES; page++) {
    const listed = await store.list({ limit: RECENT_JOBS_PAGE, ...(nextToken ? { nextToken } : {}) });
    const fresh = listed.jobs.filter((job) => Date.parse(job.createdAt) >= since.getTime());
    jobs.push(...fresh);
    nextToken = listed.nextToken;
    if (!nextToken || fresh.length < listed.jobs.length) break;
  }
  return jobs;
}

function throughputOf(jobs: readonly Job[], now: Date): OperationsOverview['throughput'] {
  const since = now.getTime() - THROUGHPUT_WINDOW_MINUTES * 60_000;
  const finished = jobs.filter((job) => isTerminal(job.status) && Date.parse(job.updatedAt) >= since);
  const byStatus: Partial<Record<JobStatus, number>> = {};
  for (const job of finished) byStatus[job.status] = (byStatus[job.status] ?? 0) + 1;
  const itemsFinished = finished.reduce((sum, job) => sum + (job.itemsSucceeded ?? 0) + (job.itemsFailed ?? 0), 0);
  return { windowMinutes: THROUGHPUT_WINDOW_MINUTES, jobsFinished: finished.length, itemsFinished, byStatus };
}

function inFlightView(job: Job, now: Date): InFlightJob {
  const progress = jobProgress(job, now);
  return {
    jobId: job.jobId,
    owner: job.owner,
    robot: job.robot,
    status: job.status,
    attempts: job.attempts,
    createdAt: job.createdAt,
    ...(job.startedAt ? { startedAt: job.startedAt } : {}),
    ...(job.lastAttemptRuntime ? { lastAttemptRuntime: job.lastAttemptRuntime } : {}),
    ...(progress ? { progress } : {}),
  };
}

function slotsByHost(held: readonly HeldSlot[], caps: PortalSessionCaps): OperationsOverview['portalSlots'] {
  const hosts = new Map<string, HeldSlot[]>();
  for (const slot of held) hosts.set(slot.host, [...(hosts.get(slot.host) ?? []), slot]);
  return [...hosts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, slots]) => ({
      host,
      cap: sessionCapOf(caps, host),
      held: slots.length,
      holders: slots.sort((a, b) => a.slot - b.slot).map(({ slot, holder, expiresAt }) => ({ slot, jobId: holder, expiresAt })),
    }));
}

/** Dead letters shown at once; the DLQ reprocessor normally keeps the queue near empty. */
const MAX_DEAD_LETTERS = 50;

export interface DeadLetterView {
  messageId: string;
  receiveCount: number;
  sentAt?: string;
  /** The job the message belongs to, when its body names one. */
  jobId?: string;
  /** What the message asked for: the whole job, a chunk of its items, or its finish step. */
  task: 'job' | 'chunk' | 'finish' | 'unknown';
  chunk?: number;
  job?: { status: JobStatus; robot: string; owner: string; attempts: number; lastAttemptRuntime?: string };
  /** Why it is here, as far as can be told: the job's error, or the receive count it exhausted. */
  reason: string;
}

export async function listDeadLetters(deps: Pick<OperationsDeps, 'jobs' | 'queues'>, caller: Caller): Promise<{ messages: DeadLetterView[] }> {
  requireAdmin(caller);
  const letters = await deps.queues.peekDeadLetters(MAX_DEAD_LETTERS);
  const messages = await Promise.all(letters.map((letter) => describeDeadLetter(deps.jobs, letter)));
  return { messages };
}

async function describeDeadLetter(jobs: JobStore, letter: DeadLetter): Promise<DeadLetterView> {
  const task = parseTask(letter.body);
  const job = task.jobId && z.uuid().safeParse(task.jobId).success ? await jobs.get(task.jobId) : undefined;
  const reason = job?.error
    ? `${job.error.code}: ${job.error.message}`
    : `Received ${letter.receiveCount} times without being finished (worker crashed, stopped or lost the message)`;
  return {
    messageId: letter.messageId,
    receiveCount: letter.receiveCount,
    ...(letter.sentAt ? { sentAt: letter.sentAt } : {}),
    ...(task.jobId ? { jobId: task.jobId } : {}),
    task: task.kind,
    ...(task.chunk === undefined ? {} : { chunk: task.chunk }),
    ...(job
      ? { job: { status: job.status, robot: job.robot, owner: job.owner, attempts: job.attempts, ...(job.lastAttemptRuntime ? { lastAttemptRuntime: job.lastAttemptRuntime } : {}) } }
      : {}),
    reason,
  };
}

function parseTask(body: string): { jobId?: string; kind: DeadLetterView['task']; chunk?: number } {
  try {
    const parsed = JSON.parse(body) as { jobId?: unknown; chunk?: { index?: unknown }; finish?: unknown };
    const jobId = typeof parsed.jobId === 'string' ? parsed.jobId : undefined;
    if (parsed.finish === true) return { ...(jobId ? { jobId } : {}), kind: 'finish' };
    if (parsed.chunk && typeof parsed.chunk.index === 'number') return { ...(jobId ? { jobId } : {}), kind: 'chunk', chunk: parsed.chunk.index };
    return jobId ? { jobId, kind: 'job' } : { kind: 'unknown' };
  } catch {
    return { kind: 'unknown' };
  }
}

export const redriveSchema = z.strictObject({
  /** One message; absent moves every dead letter. */
  messageId: z.string().min(1).max(128).regex(/^[A-Za-z0-9-]+$/, 'must be an SQS message id').optional(),
});

export async function redriveDeadLetters(deps: Pick<OperationsDeps, 'queues'>, caller: Caller, body: unknown): Promise<{ redriven: string[] }> {
  requireAdmin(caller);
  const { messageId } = parseOrThrow(redriveSchema, body ?? {}, 'Redrive request is invalid');
  // Idempotent: a message redriven before (or taken by the DLQ reprocessor) is simply not moved again.
  const redriven = await deps.queues.redrive(messageId);
  return { redriven };
}
