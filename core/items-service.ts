import { z } from 'zod';
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
 * A retry is a NEW job (terminal jobs are immutable): same owner, robot and callbackUrl, the
 * original input with the robot's items field narrowed to the items that did not succeed, and
 * `retryOf` naming the original. Idempotency-Key works as for POST /jobs.
 */
export async function retryJob(deps: RetryDeps, caller: Caller, jobId: string, idempotencyKey?: string): Promise<SubmitResult> {
  const original = await findVisibleJob(deps.store, caller, jobId);
  if (!isTerminal(original.status)) throw new RetryNotPossible(`Job is ${original.status}; only finished jobs can be retried`);
  const robot = deps.robots.find(original.robot);
  if (!robot) throw new RetryNotPossible(`Robot ${original.robot} no longer exists`);
  const parsed = robot.input.safeParse(await retryInput(deps.items, original, robot.itemsField));
  if (!parsed.success) throw new RetryNotPossible(`The job's input no longer fits robot ${robot.name}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  return queueJob(
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
}

/**
 * What a retry runs. With items: the keys of the items that did not succeed (FAILED, or left
 * PENDING by a job that ended early), in submission order. Without items (a robot with no items
 * field, or a job that failed before it recorded any): the whole input, only for a FAILED or
 * TIMED_OUT job — a SUCCEEDED, PARTIAL or CANCELLED job without items has nothing to retry.
 */
export async function retryInput(items: ItemStore, job: Job, itemsField: string | undefined): Promise<Record<string, unknown>> {
  const recorded = itemsField ? await allItems(items, job.jobId) : [];
  if (itemsField && recorded.length > 0) {
    const unfinished = recorded.filter((item) => item.status !== 'SUCCEEDED').map((item) => item.key);
    if (unfinished.length === 0) throw new RetryNotPossible('Every item of the job succeeded; there is nothing to retry');
    return { ...job.input, [itemsField]: unfinished };
  }
  if (job.status === 'FAILED' || job.status === 'TIMED_OUT') return job.input;
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
