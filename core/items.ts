import type { JobError } from './job';

/**
 * Work items: the units a robot processes one by one (an invoice, a URL). Each has its own
 * status, attempts, result file and error, and is checkpointed as it finishes, so a message
 * delivered again resumes the job and skips what is done.
 */
export const ITEM_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

export interface ItemArtifact {
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  /** S3 object key; clients get a presigned `url` instead. */
  key: string;
}

export interface JobItem {
  jobId: string;
  /** Stable key derived from the input (e.g. the invoice number); unique within the job. */
  key: string;
  /** Position in the input, to list items in submission order. */
  position: number;
  status: ItemStatus;
  attempts: number;
  artifact?: ItemArtifact;
  /** BUSINESS errors are final for the item; TECHNICAL ones are retried. */
  error?: JobError;
  /** What the page looked like when the item failed: screenshot, HTML, Playwright trace. */
  evidence?: ItemArtifact[];
  updatedAt: string;
}

/** Done for good: succeeded, or failed on its data (a retry of the same data fails again). */
export function isItemSettled(item: Pick<JobItem, 'status' | 'error'>): boolean {
  return item.status === 'SUCCEEDED' || (item.status === 'FAILED' && item.error?.type === 'BUSINESS');
}

export interface ItemPage {
  items: JobItem[];
  nextToken?: string;
}

/** Item checkpoints (DynamoDB table keyed by jobId + item key). */
export interface ItemStore {
  /** Creates the PENDING items that do not exist yet; existing items keep their state. */
  ensureItems(jobId: string, keys: readonly string[], now: string): Promise<void>;
  get(jobId: string, key: string): Promise<JobItem | undefined>;
  /** The items of `keys` that exist (a chunk's items), read consistently. */
  getMany(jobId: string, keys: readonly string[]): Promise<Map<string, JobItem>>;
  /** All items of a job in submission order, paginated. */
  list(jobId: string, query: { limit: number; nextToken?: string; status?: ItemStatus }): Promise<ItemPage>;
  /**
   * Counts an attempt on an item that is not settled (see isItemSettled); undefined (nothing
   * written) when it is settled or missing.
   */
  beginItem(jobId: string, key: string, now: string): Promise<JobItem | undefined>;
  /**
   * Checkpoint: the item is done. Returns the status it had just before this write (read in the same
   * conditional write); undefined, and nothing written, if it had already succeeded or is missing.
   */
  markSucceeded(jobId: string, key: string, artifact: ItemArtifact | undefined, now: string): Promise<ItemStatus | undefined>;
  /**
   * Records the failure and its evidence; never overwrites a success. Returns the status the item
   * had just before (as markSucceeded); undefined when nothing was written.
   */
  markFailed(jobId: string, key: string, error: JobError, evidence: readonly ItemArtifact[], now: string): Promise<ItemStatus | undefined>;
}
