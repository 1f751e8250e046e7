import { createHmac, timingSafeEqual } from 'node:crypto';
import { JobNotFound } from './errors';
import type { Job, JobError, JobStatus, WebhookDelivery } from './job';
import type { ItemStore } from './items';
import { allItems } from './items-service';
import { nameBasedUuid } from './jobs';
import type { JobStore } from './ports';
import { signingSecrets, webhookSecretsOf, type WebhookSecretStore } from './webhook-secrets';
import { WEBHOOK_DELIVERY_FAILED, type NotifyWebhookInput } from './workflow-contract';

/**
 * The job.finished webhook (docs/webhooks.md): when a job ends, its summary is POSTed to the
 * job's callbackUrl, signed with the owner's secret:
 *
 *   Roboport-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>[,v1=<previous secret>]
 *
 * Each attempt is one NotifyWebhook step; the workflow retries failed attempts with backoff.
 */
export const WEBHOOK_EVENT = 'job.finished';

export const WEBHOOK_HEADERS = {
  signature: 'roboport-signature',
  event: 'roboport-event',
  delivery: 'roboport-delivery',
  jobId: 'roboport-job-id',
  idempotencyKey: 'idempotency-key',
} as const;

/** Receivers refuse signatures whose `t` is further than this from their clock (replays). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** The body: a summary for the owner's systems. No input (it may name secrets), no download links. */
export interface WebhookPayload {
  event: typeof WEBHOOK_EVENT;
  jobId: string;
  robot: string;
  status: JobStatus;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  error?: JobError;
  retryOf?: string;
  itemCounts?: ItemCounts;
  links: { job: string };
}

export interface ItemCounts {
  succeeded: number;
  failed: number;
}

export function webhookPayload(job: Job, itemCounts?: ItemCounts): WebhookPayload {
  return {
    event: WEBHOOK_EVENT,
    jobId: job.jobId,
    robot: job.robot,
    status: job.status,
    attempts: job.attempts,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.error ? { error: job.error } : {}),
    ...(job.retryOf ? { retryOf: job.retryOf } : {}),
    ...(itemCounts ? { itemCounts } : {}),
    links: { job: `/jobs/${job.jobId}` },
  };
}

/** The same for every attempt of one job's event, so receivers can drop duplicates. */
export function webhookDeliveryId(jobId: string): string {
  return nameBasedUuid(`${jobId}\n${WEBHOOK_EVENT}`);
}

export function computeSignature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** `t=<timestamp>,v1=<sig>` with one v1 per secret (two during a rotation's grace period). */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${computeSignature(secret, timestamp, body)}`)].join(',');
}

/**
 * What a receiver does (and what docs/webhooks.md shows): `t` within the tolerance of its own
 * clock, and one v1 equal, compared in constant time, to the HMAC of `t.body` with its secret.
 */
export function verifySignature(
  header: string | undefined,
  body: string,
  secret: string,
  { nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS } = {},
): boolean {
  const parts = (header ?? '').split(',').map((part) => part.trim().split('='));
  const timestamp = Number(parts.find(([name]) => name === 't')?.[1]);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  return parts
    .filter(([name, value]) => name === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value))
    .some(([, value]) => timingSafeEqual(Buffer.from(value!, 'hex'), expected));
}

/** Sends one POST; answers the HTTP status, or why the egress guard refused the URL. Network errors throw. */
export interface WebhookSender {
  post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number } | { refused: string }>;
}

export interface WebhookDeliveryDeps {
  jobs: JobStore;
  items: ItemStore;
  secrets: WebhookSecretStore;
  sender: WebhookSender;
  now?: () => Date;
}

/** Raised for an attempt that failed while more are to come; the workflow's Retry matches its name. */
export class WebhookDeliveryFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = WEBHOOK_DELIVERY_FAILED;
  }
}

/**
 * One delivery attempt of the job's webhook, recorded on the job (status never changes). A 2xx
 * answer delivers; anything else (3xx included: redirects are not followed) fails the attempt and
 * throws WebhookDeliveryFailed unless it was the last one. A URL the egress guard refuses fails
 * for good at once. Jobs without a callbackUrl, or whose webhook is settled, are left alone.
 */
export async function deliverJobWebhook(deps: WebhookDeliveryDeps, { jobId, maxAttempts }: NotifyWebhookInput): Promise<WebhookDelivery | undefined> {
  const job = await deps.jobs.get(jobId);
  if (!job) throw new JobNotFound(jobId);
  if (!job.callbackUrl || job.webhook?.status === 'DELIVERED' || job.webhook?.status === 'FAILED') return job.webhook;

  const now = (deps.now ?? (() => new Date()))();
  const secrets = await webhookSecretsOf(deps.secrets, job.owner, now);
  const body = JSON.stringify(webhookPayload(job, await countItems(deps.items, jobId)));
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Roboport-Webhooks/1.0',
    [WEBHOOK_HEADERS.event]: WEBHOOK_EVENT,
    [WEBHOOK_HEADERS.delivery]: webhookDeliveryId(jobId),
    [WEBHOOK_HEADERS.jobId]: jobId,
    ...(job.idempotencyKey ? { [WEBHOOK_HEADERS.idempotencyKey]: job.idempotencyKey } : {}),
    [WEBHOOK_HEADERS.signature]: signatureHeader(signingSecrets(secrets, now), Math.floor(now.getTime() / 1000), body),
  };

  const outcome = await attempt(deps.sender, job.callbackUrl, body, headers);
  const attempts = (job.webhook?.attempts ?? 0) + 1;
  const status = outcome.delivered ? 'DELIVERED' : outcome.final || attempts >= maxAttempts ? 'FAILED' : 'RETRYING';
  const delivery: WebhookDelivery = { status, attempts, lastAttemptAt: now.toISOString(), ...(outcome.error ? { lastError: outcome.error } : {}) };
  await deps.jobs.setWebhookDelivery(jobId, delivery);
  if (status === 'RETRYING') throw new WebhookDeliveryFailed(outcome.error ?? 'delivery failed');
  return delivery;
}

async function attempt(sender: WebhookSender, url: string, body: string, headers: Record<string, string>): Promise<{ delivered: boolean; final?: boolean; error?: string }> {
  try {
    const answer = await sender.post(url, body, headers);
    if ('refused' in answer) return { delivered: false, final: true, error: `callbackUrl refused by the egress guard: ${answer.refused}` };
    if (answer.status >= 200 && answer.status < 300) return { delivered: true };
    return { delivered: false, error: `receiver answered HTTP ${answer.status}` };
  } catch (error) {
    return { delivered: false, error: `request failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500) };
  }
}

/** Item totals for jobs that have items; undefined for jobs without. */
async function countItems(items: ItemStore, jobId: string): Promise<ItemCounts | undefined> {
  const all = await allItems(items, jobId);
  if (all.length === 0) return undefined;
  return { succeeded: all.filter((item) => item.status === 'SUCCEEDED').length, failed: all.filter((item) => item.status === 'FAILED').length };
}
