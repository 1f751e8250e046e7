import type { ItemArtifact, ItemStatus, ItemStore } from './items';
import type { JobError } from './job';
import type { JobStore } from './ports';

/**
 * A job's progress over its work items, from counters on the job record (never a scan of the
 * items): `itemsTotal` is set when the items are written, `itemsSucceeded` and `itemsFailed` move
 * by atomic ADDs as item checkpoints change status. The delta of a checkpoint comes from the status
 * the item had just before that same conditional write, so a retried item (FAILED, then SUCCEEDED)
 * moves between the counters once, and a redelivered chunk, whose checkpoints write nothing or
 * keep the status, moves nothing. The counters thus equal the item listing's counts by status.
 */
export interface ItemCountDelta {
  succeeded: number;
  failed: number;
}

/** What a checkpoint from `from` (undefined: nothing was written) to `to` changes; undefined when nothing. */
export function itemCountDelta(from: ItemStatus | undefined, to: Exclude<ItemStatus, 'PENDING'>): ItemCountDelta | undefined {
  if (from === undefined || from === to) return undefined;
  const moves = (status: ItemStatus) => (to === status ? 1 : 0) - (from === status ? 1 : 0);
  return { succeeded: moves('SUCCEEDED'), failed: moves('FAILED') };
}

/**
 * An ItemStore that keeps the job's counters: every writer of items (PlanJob, the robot runtime in
 * the worker and the DLQ Lambda) uses it, so that no checkpoint goes uncounted.
 */
export class ProgressCountingItemStore implements ItemStore {
  constructor(
    private readonly items: ItemStore,
    private readonly jobs: Pick<JobStore, 'setItemTotal' | 'countItems'>,
  ) {}

  /** Writing the items again (a retried PlanJob, a redelivered chunk) sets the same total. */
  async ensureItems(jobId: string, keys: readonly string[], now: string): Promise<void> {
    await this.items.ensureItems(jobId, keys, now);
    await this.jobs.setItemTotal(jobId, keys.length);
  }

  get(jobId: string, key: string) {
    return this.items.get(jobId, key);
  }

  getMany(jobId: string, keys: readonly string[]) {
    return this.items.getMany(jobId, keys);
  }

  list(jobId: string, query: Parameters<ItemStore['list']>[1]) {
    return this.items.list(jobId, query);
  }

  beginItem(jobId: string, key: string, now: string) {
    return this.items.beginItem(jobId, key, now);
  }

  async markSucceeded(jobId: string, key: string, artifact: ItemArtifact | undefined, now: string): Promise<ItemStatus | undefined> {
    return this.count(jobId, await this.items.markSucceeded(jobId, key, artifact, now), 'SUCCEEDED');
  }

  async markFailed(jobId: string, key: string, error: JobError, evidence: readonly ItemArtifact[], now: string): Promise<ItemStatus | undefined> {
    return this.count(jobId, await this.items.markFailed(jobId, key, error, evidence, now), 'FAILED');
  }

  private async count(jobId: string, from: ItemStatus | undefined, to: 'SUCCEEDED' | 'FAILED'): Promise<ItemStatus | undefined> {
    const delta = itemCountDelta(from, to);
    if (delta) await this.jobs.countItems(jobId, delta);
    return from;
  }
}
