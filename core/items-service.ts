import * as z from 'zod';
import { RetryNotPossible } from './errors';
import { isTerminal, type Caller, type Job, type JobError } from './job';
import { ITEM_STATUSES, type ItemArtifact, type ItemStatus, type ItemStore, type JobItem } from './items';
import { findVisibleJob, queueJob, type SubmitDeps, type SubmitResult } from './jobs';
import { parseOrThrow } from './validation';
import type { ArtifactLinks, JobStore } from './ports';

/**
 * Use cases on a job's work items: listing them (GET /jobs/{jobId}/items) and retrying the ones
 * that did not succeed (POST /jobs/{jobId}/retry). Both see exactly the jobs GET /jobs/{jobId} sees.
 */
export type ItemArtifactView = Omit<ItemArtifact, 'key'> & { url: string };

export interface ItemView {
  key: string;
  status: ItemStatus;
  attempts: number;
  artifact?: ItemArtifactView;
  error?: JobError;
  /** Screenshot, HTML and trace saved when the item failed. */
  evidence?: ItemArtifactView[];
  updatedAt: string;
}

export interface ItemListView {
  items: ItemView[];
  nextToken?: string;
}

export interface ItemReadDeps {
  store: JobStore;
  items: ItemStore;
  links: ArtifactLinks;
}

export const itemsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  nextToken: z.string().min(1).max(2048).optional(),
  status: z.enum(ITEM_STATUSES).optional(),
});

export async function listJobItems(deps: ItemReadDeps, caller: Caller, jobId: string, query: Record<string, string | undefined>): Promise<ItemListView> {
  const job = await findVisibleJob(deps.store, caller, jobId);
  const { limit, nextToken, status } = parseOrThrow(itemsQuerySchema, query, 'Query parameters are invalid');
  const page = await deps.items.list(job.jobId, { limit, ...(nextToken ? { nextToken } : {}), ...(status ? { status } : {}) });
  const presign = async ({ key, ...file }: ItemArtifact): Promise<ItemArtifactView> => ({ ...file, url: await deps.links.presign(key, file.name) });
  const items = await Promise.all(
    page.items.map(
      async ({ key, status, attempts, artifact, error, evidence, updatedAt }): Promise<ItemView> => ({
        key,
        status,
        attempts,
        ...(artifact ? { artifact: await presign(artifact) } : {}),
        ...(error ? { error } : {}),
        ...(evidence?.length ? { evidence: await Promise.all(evidence.map(presign)) } : {}),
        updatedAt,
      }),
    ),
  );
  return { items, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
}

export interface RetryDeps extends SubmitDeps {
  items: ItemStore;
}

/**
 * What a retry re-runs: `technical` (the default) only what failed for a technical reason (and
 * items a job that ended early never ran): business failures (an unknown invoice) would fail
 * again. `all-failed`: every item that did not succeed.
 */
export const RETRY_SCOPES = ['technical', 'all-failed'] as const;
export type RetryScope = (typeof RETRY_SCOPES)[number];

/** The body of POST /jobs/{jobId}/retry; lib/api.ts validates it too. */
export const retryRequestSchema = z.strictObject({ scope: z.enum(RETRY_SCOPES).default('technical') });

/**
 * A retry is a NEW job (terminal jobs are immutable): same owner, robot and callbackUrl, the
 * original input with the robot's items field narrowed to the items the scope picks, and
 * `retryOf` naming the original, which lists it in its `retries`. Idempotency-Key works as for POST /jobs.
 */
export async function retryJob(deps: RetryDeps, caller: Caller, jobId: string, idempotencyKey?: string, body: unknown = {}): Promise<SubmitResult> {
  const { scope } = parseOrThrow(retryRequestSchema, body ?? {}, 'Retry request is invalid');
  const original = await findVisibleJob(deps.store, caller, jobId);
  if (!isTerminal(original.status)) throw new RetryNotPossible(`Job is ${original.status}; only finished jobs can be retried`);
  const robot = deps.robots.find(original.robot);
  if (!robot) throw new RetryNotPossible(`Robot ${original.robot} no longer exists`);
  const parsed = robot.input.safeParse(await retryInput(deps.items, original, robot.itemsField, scope));
  if (!parsed.success) throw new RetryNotPossible(`The job's input no longer fits robot ${robot.name}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  const result = await queueJob(
    deps,
    caller,
    {
      owner: original.owner,
      robot,
      input: parsed.data as Record<string, unknown>,
      ...(original.callbackUrl ? { callbackUrl: original.callbackUrl } : {}),
      timeoutSeconds: original.timeoutSeconds ?? deps.timeouts.defaultSeconds,
      retryOf: original.jobId,
    },
    idempotencyKey,
  );
  // After the retry exists (a replay links again, which adds nothing): the original names its retries.
  await deps.store.addRetry(original.jobId, result.job.jobId);
  return result;
}

/**
 * What a retry runs. With items: the keys of the items the scope picks (FAILED ones, only technical
 * failures for `technical`, and those left PENDING by a job that ended early), in submission order.
 * Without items (a robot with no items field, or a job that failed before it recorded any): the
 * whole input, only for a FAILED or TIMED_OUT job, and for `technical` only when its error was
 * technical — a SUCCEEDED, PARTIAL or CANCELLED job without items has nothing to retry.
 */
export async function retryInput(items: ItemStore, job: Job, itemsField: string | undefined, scope: RetryScope = 'technical'): Promise<Record<string, unknown>> {
  const recorded = itemsField ? await allItems(items, job.jobId) : [];
  if (itemsField && recorded.length > 0) {
    const unfinished = recorded.filter((item) => item.status !== 'SUCCEEDED');
    if (unfinished.length === 0) throw new RetryNotPossible('Every item of the job succeeded; there is nothing to retry');
    const picked = scope === 'all-failed' ? unfinished : unfinished.filter((item) => item.error?.type !== 'BUSINESS');
    if (picked.length === 0) {
      throw new RetryNotPossible(`All ${unfinished.length} failed items failed for business reasons and would fail again; retry with scope "all-failed" to run them anyway`);
    }
    return { ...job.input, [itemsField]: picked.map((item) => item.key) };
  }
  if (job.status === 'FAILED' || job.status === 'TIMED_OUT') {
    if (scope === 'technical' && job.error?.type === 'BUSINESS') {
      throw new RetryNotPossible('The job failed for a business reason and would fail again; retry with scope "all-failed" to run it anyway');
    }
    return job.input;
  }
  throw new RetryNotPossible(`Job is ${job.status} and has no failed items; there is nothing to retry`);
}

/** Every item of a job, in submission order. */
export async function allItems(items: ItemStore, jobId: string): Promise<JobItem[]> {
  const all: JobItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await items.list(jobId, { limit: 100, ...(nextToken ? { nextToken } : {}) });
    all.push(...page.items);
    nextToken = page.nextToken;
  } while (nextToken);
  return all;
}
