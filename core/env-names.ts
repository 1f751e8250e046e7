/**
 * Environment variables through which the infrastructure (CDK or the local stack) configures
 * the Lambdas and the robot worker. One list, so both sides set exactly what the code reads.
 */
export const ENV = {
  jobsTable: 'JOBS_TABLE_NAME',
  itemsTable: 'ITEMS_TABLE_NAME',
  artifactsBucket: 'ARTIFACTS_BUCKET_NAME',
  robotQueueUrl: 'ROBOT_QUEUE_URL',
  /** The robot queue's DLQ, which the DLQ reprocessor consumes. */
  robotDeadLetterQueueUrl: 'ROBOT_DEAD_LETTER_QUEUE_URL',
  stateMachineArn: 'STATE_MACHINE_ARN',
  /** Comma-separated host[:port] list the egress guard lets through although private (local sandbox). */
  egressAllowHosts: 'EGRESS_ALLOW_HOSTS',
  /** "true" where the S3 endpoint needs path-style URLs (the local emulator). */
  s3ForcePathStyle: 'S3_FORCE_PATH_STYLE',
  /** Seconds a presigned artifact URL stays valid. */
  artifactUrlTtlSeconds: 'ARTIFACT_URL_TTL_SECONDS',
  /** Robot jobs one worker process runs at once. */
  workerConcurrency: 'WORKER_CONCURRENCY',
  /** Pages of one signed-in browser context a robot may drive at once (its pagesPerSession is capped by it). */
  robotPagesPerSession: 'ROBOT_PAGES_PER_SESSION',
  /** Seconds between worker beats; the visibility and portal slot windows are three beats (core/delivery.ts). */
  workerHeartbeatSeconds: 'WORKER_HEARTBEAT_SECONDS',
  /** A job's bound when its submission names none, and the largest one a submission may name. */
  jobTimeoutSeconds: 'JOB_TIMEOUT_SECONDS',
  jobMaxTimeoutSeconds: 'JOB_MAX_TIMEOUT_SECONDS',
  /** Items per chunk when the workflow fans a job out (PlanJob). */
  jobChunkSize: 'JOB_CHUNK_SIZE',
  /** Path of a Chromium binary; unset means @sparticuz/chromium's bundled one. */
  chromiumPath: 'CHROMIUM_PATH',
  /** Per-portal session slots (DynamoDB). */
  leasesTable: 'LEASES_TABLE_NAME',
  /** Sessions all workers together may hold against one portal host. */
  portalMaxSessions: 'PORTAL_MAX_SESSIONS',
  /** Per-host exceptions to it: `host=N,host:port=M` (core/portal-session-caps.ts). */
  portalMaxSessionsByHost: 'PORTAL_MAX_SESSIONS_BY_HOST',
  /** Robots may read only the secrets whose names start with this (e.g. roboport/prod/robots/). */
  robotSecretsPrefix: 'ROBOT_SECRETS_PREFIX',
  /** Per-owner webhook signing secrets (DynamoDB). */
  accountsTable: 'ACCOUNTS_TABLE_NAME',
  /** Days a finished job stays in the jobs table before TTL deletes it (sets `expiresAt`). */
  jobRetentionDays: 'JOB_RETENTION_DAYS',
  /** The console's origin; API responses allow it in Access-Control-Allow-Origin. */
  corsAllowedOrigin: 'CORS_ALLOWED_ORIGIN',
  /** Recurring jobs (DynamoDB) and their EventBridge Scheduler triggers. */
  schedulesTable: 'SCHEDULES_TABLE_NAME',
  scheduleGroupName: 'SCHEDULE_GROUP_NAME',
  /** The run-schedule Lambda every schedule invokes, and the role the Scheduler assumes to invoke it. */
  scheduleTargetArn: 'SCHEDULE_TARGET_ARN',
  schedulerRoleArn: 'SCHEDULER_ROLE_ARN',
  /** Where the Scheduler parks invocations it could not deliver. */
  scheduleDeadLetterQueueArn: 'SCHEDULE_DEAD_LETTER_QUEUE_ARN',
  /** Shortest allowed time between two runs of one schedule (default 5; the local stack allows 1). */
  scheduleMinIntervalMinutes: 'SCHEDULE_MIN_INTERVAL_MINUTES',
  /** Secret holding the HMAC key that signs pagination cursors (nextToken) of the API's listings. */
  pageCursorKeySecretArn: 'PAGE_CURSOR_KEY_SECRET_ARN',
  logLevel: 'LOG_LEVEL',
} as const;
