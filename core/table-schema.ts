/**
 * The jobs table layout, shared by the DynamoDB adapter, the CDK data construct and the local
 * stack so that all three create and use the same keys and indexes.
 */
export const JOBS_TABLE = {
  partitionKey: 'jobId',
  /** Caller's jobs, newest first: partition `owner`, sort `createdKey` (= createdAt#jobId). */
  byOwnerIndex: { name: 'byOwner', partitionKey: 'owner', sortKey: 'createdKey' },
  /** Everyone's jobs for admins, newest first: partition `entity` (always "JOB"), sort `createdKey`. */
  byCreatedIndex: { name: 'byCreated', partitionKey: 'entity', sortKey: 'createdKey' },
} as const;

/** Work items of jobs: partition `jobId`, sort `itemKey`; `position` keeps submission order in the item. */
export const ITEMS_TABLE = {
  partitionKey: 'jobId',
  sortKey: 'itemKey',
} as const;
