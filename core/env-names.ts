/**
 * Environment variables through which the infrastructure (CDK or the local stack) configures
 * the Lambdas and the robot worker. One list, so both sides set exactly what the code reads.
 */
export const ENV = {
  jobsTable: 'JOBS_TABLE_NAME',
  itemsTable: 'ITEMS_TABLE_NAME',
  artifactsBucket: 'ARTIFACTS_BUCKET_NAME',
  robotQueueUrl: 'ROBOT_QUEUE_URL',
  stateMachineArn: 'STATE_MACHINE_ARN',
  /** Comma-separated host[:port] list the egress guard lets through although private (local sandbox). */
  egressAllowHosts: 'EGRESS_ALLOW_HOSTS',
  /** "true" where the S3 endpoint needs path-style URLs (the local emulator). */
  s3ForcePathStyle: 'S3_FORCE_PATH_STYLE',
  /** Seconds a presigned artifact URL stays valid. */
  artifactUrlTtlSeconds: 'ARTIFACT_URL_TTL_SECONDS',
  /** Robot jobs one worker process runs at once. */
  workerConcurrency: 'WORKER_CONCURRENCY',
  /** Seconds between worker heartbeats (must be well below the workflow's HeartbeatSeconds). */
  workerHeartbeatSeconds: 'WORKER_HEARTBEAT_SECONDS',
  /** Path of a Chromium binary; unset means @sparticuz/chromium's bundled one. */
  chromiumPath: 'CHROMIUM_PATH',
  logLevel: 'LOG_LEVEL',
} as const;
