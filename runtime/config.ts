import { intEnv, listEnv, optionalIntEnv, requireEnv } from '../core/config';
import { DEFAULT_JOB_TIMEOUTS, deliveryTiming, type DeliveryTiming } from '../core/delivery';
import { ENV } from '../core/env-names';
import { loadPortalSessionCaps, type PortalSessionCaps } from '../core/portal-session-caps';

/** What the robot runtime needs wherever it runs (the worker, the DLQ reprocessor Lambda). */
export interface RuntimeConfig {
  jobsTable: string;
  itemsTable: string;
  leasesTable: string;
  artifactsBucket: string;
  egressAllowHosts: string[];
  timing: DeliveryTiming;
  /** The bound of jobs stored before each job carried its own timeoutSeconds. */
  defaultJobTimeoutSeconds: number;
  portalSessions: PortalSessionCaps;
  /** Pages of one session a robot may drive at once (stage `pagesPerSession`). */
  pagesPerSession: number;
  /** Unset: robots get no secrets at all. */
  secretsPrefix?: string;
  chromiumPath?: string;
  s3ForcePathStyle: boolean;
  /** Days finished jobs are kept (TTL); the DLQ reprocessor settles jobs directly. */
  jobRetentionDays?: number;
}

export interface WorkerConfig extends RuntimeConfig {
  queueUrl: string;
  concurrency: number;
}

/** Pages per session where the stage names none (the local stack): a robot's own number still applies below it. */
const DEFAULT_PAGES_PER_SESSION = 4;

/** A 15 s window: a crashed worker's job is running again on another worker within seconds. */
const DEFAULT_BEAT_SECONDS = 5;

/** Read once at start: a missing value stops the worker before it takes any message. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return {
    ...loadRuntimeConfig(env),
    queueUrl: requireEnv(ENV.robotQueueUrl, env),
    concurrency: intEnv(ENV.workerConcurrency, 2, env),
  };
}

export function loadRuntimeConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const chromiumPath = env[ENV.chromiumPath]?.trim();
  const secretsPrefix = env[ENV.robotSecretsPrefix]?.trim();
  return {
    jobsTable: requireEnv(ENV.jobsTable, env),
    itemsTable: requireEnv(ENV.itemsTable, env),
    leasesTable: requireEnv(ENV.leasesTable, env),
    artifactsBucket: requireEnv(ENV.artifactsBucket, env),
    egressAllowHosts: listEnv(ENV.egressAllowHosts, env),
    timing: deliveryTiming(intEnv(ENV.workerHeartbeatSeconds, DEFAULT_BEAT_SECONDS, env)),
    defaultJobTimeoutSeconds: intEnv(ENV.jobTimeoutSeconds, DEFAULT_JOB_TIMEOUTS.defaultSeconds, env),
    portalSessions: loadPortalSessionCaps(env),
    pagesPerSession: intEnv(ENV.robotPagesPerSession, DEFAULT_PAGES_PER_SESSION, env),
    ...(secretsPrefix ? { secretsPrefix } : {}),
    ...(chromiumPath ? { chromiumPath } : {}),
    jobRetentionDays: optionalIntEnv(ENV.jobRetentionDays, env),
    s3ForcePathStyle: env[ENV.s3ForcePathStyle] === 'true',
  };
}
