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
  /** Epoch seconds after which DynamoDB deletes a finished job (TTL); unset while the job runs. */
  ttlAttribute: 'expiresAt',
} as const;

/** Work items of jobs: partition `jobId`, sort `itemKey`. */
export const ITEMS_TABLE = {
  partitionKey: 'jobId',
  sortKey: 'itemKey',
  /** A job's items in submission order: local index sorted by the number `position`. */
  byPositionIndex: { name: 'byPosition', sortKey: 'position' },
} as const;

/**
 * Per-portal session slots (core/portal-lease.ts): one item per slot, partition `leaseKey`
 * (= host#slot); `expiresAt` (epoch seconds) is also the table's TTL attribute.
 */
export const LEASES_TABLE = {
  partitionKey: 'leaseKey',
  ttlAttribute: 'expiresAt',
} as const;

/**
 * Per-owner settings that are not jobs: the webhook signing secrets (core/webhook-secrets.ts).
 * A table of its own so that only the functions that sign webhooks or serve the secret can read it.
 */
export const ACCOUNTS_TABLE = {
  partitionKey: 'owner',
} as const;

/** Recurring jobs (core/schedules.ts), with the same owner and admin listings as the jobs table. */
export const SCHEDULES_TABLE = {
  partitionKey: 'scheduleId',
  /** Caller's schedules, newest first: partition `owner`, sort `createdKey` (= createdAt#scheduleId). */
  byOwnerIndex: { name: 'byOwner', partitionKey: 'owner', sortKey: 'createdKey' },
  /** Everyone's schedules for admins: partition `entity` (always "SCHEDULE"), sort `createdKey`. */
  byCreatedIndex: { name: 'byCreated', partitionKey: 'entity', sortKey: 'createdKey' },
} as const;

/**
 * Kept portal sessions (runtime/portal-sessions.ts): one item per owner, portal host and
 * credentials (partition `sessionKey`, a digest of the three), the sealed storage state in `blob`.
 * A table of its own rather than a prefix of the artifacts bucket: a session is a small record
 * replaced and deleted conditionally (an ended session must not take a newer one with it), it
 * ages out by TTL without a lifecycle rule's day granularity, and only the robot runtimes get
 * access to it (the API and anyone who may read artifacts do not).
 */
export const PORTAL_SESSIONS_TABLE = {
  partitionKey: 'sessionKey',
  ttlAttribute: 'expiresAt',
} as const;

/** The pair every sealed session's encryption context carries: the KMS grants of lib/ are conditioned on it. */
export const PORTAL_SESSION_PURPOSE = { contextKey: 'roboport-purpose', value: 'roboport-portal-session' } as const;

/**
 * Open live-events connections (core/job-events.ts): one item per WebSocket connection, partition
 * `connectionId`; `owner` holds the caller's sub, `audience` is "ADMIN" on admins' connections only
 * (a sparse index), `expiresAt` (epoch seconds, TTL) drops items of connections whose $disconnect was lost.
 */
export const EVENT_CONNECTIONS_TABLE = {
  partitionKey: 'connectionId',
  /** The connections of one owner: partition `owner`. */
  byOwnerIndex: { name: 'byOwner', partitionKey: 'owner' },
  /** Every admin's connection: partition `audience` (always "ADMIN"), set on admins' connections only. */
  adminsIndex: { name: 'admins', partitionKey: 'audience' },
  ttlAttribute: 'expiresAt',
} as const;
