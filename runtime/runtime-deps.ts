import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoItemStore } from '../core/adapters/dynamo-item-store';
import { DynamoJobStore } from '../core/adapters/dynamo-job-store';
import { DynamoPortalLeaseStore } from '../core/adapters/dynamo-portal-lease';
import { SecretsManagerSource } from '../core/adapters/secrets';
import type { Logger } from '../core/logger';
import { ProgressCountingItemStore } from '../core/progress';
import { robotCatalog } from '../robots';
import type { JobSessions } from './browser';
import type { RuntimeConfig } from './config';
import type { AttemptDeps } from './handle-message';

export interface RuntimeWiring {
  log: Logger;
  sessions: JobSessions;
  /** How long a job waits for a portal slot before its attempt fails (undefined: no limit). */
  leaseWaitMs: number | undefined;
}

/**
 * The robot runtime's adapters, built once per process by each runtime that hosts it (the
 * worker, the DLQ reprocessor Lambda). AWS endpoints come from the AWS_ENDPOINT_URL_* variables.
 */
export function runtimeDepsFromConfig(config: RuntimeConfig, { log, sessions, leaseWaitMs }: RuntimeWiring): AttemptDeps {
  const dynamo = new DynamoDBClient({});
  const store = new DynamoJobStore(dynamo, config.jobsTable, config.jobRetentionDays);
  return {
    s3: new S3Client({ forcePathStyle: config.s3ForcePathStyle }),
    store,
    // Every checkpoint moves the job's progress counters.
    items: new ProgressCountingItemStore(new DynamoItemStore(dynamo, config.itemsTable), store),
    leases: new DynamoPortalLeaseStore(dynamo, config.leasesTable),
    secrets: new SecretsManagerSource(new SecretsManagerClient({})),
    secretsPrefix: config.secretsPrefix,
    portalSessions: config.portalSessions,
    maxPagesPerSession: config.pagesPerSession,
    // One window without a renewal and the slot of a dead runtime is free again (core/delivery.ts).
    leaseTtlSeconds: config.timing.slotTtlSeconds,
    leaseWaitMs,
    robots: robotCatalog,
    sessions,
    artifactsBucket: config.artifactsBucket,
    egressAllowHosts: config.egressAllowHosts,
    timing: config.timing,
    defaultJobTimeoutSeconds: config.defaultJobTimeoutSeconds,
    log,
  };
}
