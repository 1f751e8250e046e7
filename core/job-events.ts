import * as z from 'zod';
import { canSee, toJobView, type Caller, type Job, type JobView } from './job';

/**
 * Live job events (README "Live job events"). A client holds one WebSocket connection, opened
 * with its Cognito ID token in the `token` query parameter; every write of a job it may see
 * (its own; admins: everyone's) reaches it as a frame `{type: "job", version, job}`, where `job`
 * is the job as GET /jobs/{jobId} shows it without artifact links and `version` counts the job's
 * writes, so a client keeps the highest version it saw and drops older frames.
 */
export interface JobEvent {
  type: 'job';
  version: number;
  job: JobView;
}

/** One open connection: who holds it, and the one job it follows (`jobId`) if it subscribed to one. */
export interface EventConnection {
  connectionId: string;
  caller: Caller;
  jobId?: string;
}

/** Where the open connections are kept (DynamoDB in AWS, memory in the local stack). */
export interface EventConnectionStore {
  /** The connections that may see `owner`'s jobs: the owner's and every admin's. */
  audience(owner: string): Promise<EventConnection[]>;
  remove(connectionId: string): Promise<void>;
}

/** Sends one frame to one connection; 'gone' when the connection no longer exists (API Gateway's 410). */
export interface EventSender {
  send(connectionId: string, frame: string): Promise<'sent' | 'gone'>;
}

export interface FanOutDeps {
  connections: EventConnectionStore;
  sender: EventSender;
  onSendError?: (connectionId: string, error: unknown) => void;
}

export interface FanOutResult {
  sent: number;
  /** Connections found closed and removed. */
  gone: number;
  failed: number;
}

/** The frame clients receive for this state of the job. */
export function jobEvent(job: Job): JobEvent {
  return { type: 'job', version: job.version ?? 0, job: toJobView(job) };
}

/**
 * Sends the job's new state to every connection allowed to see it (the same rule as the REST API:
 * core/job.ts canSee) that follows all jobs or this one. One connection's failure never stops the
 * others; connections that are gone are removed.
 */
export async function fanOutJobEvent(deps: FanOutDeps, job: Job): Promise<FanOutResult> {
  const frame = JSON.stringify(jobEvent(job));
  const audience = (await deps.connections.audience(job.owner)).filter(
    (connection) => canSee(connection.caller, job) && (connection.jobId === undefined || connection.jobId === job.jobId),
  );
  const result: FanOutResult = { sent: 0, gone: 0, failed: 0 };
  await Promise.all(
    audience.map(async ({ connectionId }) => {
      try {
        if ((await deps.sender.send(connectionId, frame)) === 'sent') {
          result.sent++;
        } else {
          result.gone++;
          await deps.connections.remove(connectionId);
        }
      } catch (error) {
        result.failed++;
        deps.onSendError?.(connectionId, error);
      }
    }),
  );
  return result;
}

/** What a client may send on its connection: follow one job (or all again: no jobId), or keep it alive. */
export const clientMessageSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('subscribe'), jobId: z.uuid().optional() }),
  z.strictObject({ action: z.literal('ping') }),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

/** The `jobId` query parameter of the handshake: a job id, or nothing (all the caller's jobs). */
export const subscriptionJobIdSchema = z.uuid().optional();

/** Called after every successful write of a job with the job as written (the local stack's stand-in for the table's stream). */
export type JobChangeListener = (job: Job) => Promise<void>;
