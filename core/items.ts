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
  updatedAt: string;
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
  /** All items of a job in submission order, paginated. */
  list(jobId: string, query: { limit: number; nextToken?: string; status?: ItemStatus }): Promise<ItemPage>;
  /** Counts an attempt on a PENDING item (conditional: never on a SUCCEEDED one). */
  beginItem(jobId: string, key: string, now: string): Promise<JobItem>;
  /** Checkpoint: the item is done; refused if it already succeeded (no duplicate artifact). */
  markSucceeded(jobId: string, key: string, artifact: ItemArtifact | undefined, now: string): Promise<void>;
  markFailed(jobId: string, key: string, error: JobError, now: string): Promise<void>;
}
