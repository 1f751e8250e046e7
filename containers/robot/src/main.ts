import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoItemStore } from '../../../core/adapters/dynamo-item-store';
import { DynamoJobStore } from '../../../core/adapters/dynamo-job-store';
import { DynamoPortalLeaseStore } from '../../../core/adapters/dynamo-portal-lease';
import { SecretsManagerSource } from '../../../core/adapters/secrets';
import { createLogger } from '../../../core/logger';
import { robotCatalog } from '../../../robots';
import { WorkerBrowser } from './browser';
import { loadWorkerConfig } from './config';
import { startWorker } from './worker';

/**
 * The robot worker process (Fargate task, or `tsx containers/robot/src/main.ts` locally).
 * AWS endpoints come from the standard AWS_ENDPOINT_URL_* variables.
 */

/** Fargate (Spot) sends SIGTERM at most 120 s before SIGKILL: drain, then release and close. */
const DRAIN_DEADLINE_MS = 90_000;
/** A job waits this long for a free portal slot before its attempt fails (and is retried later). */
const PORTAL_SLOT_WAIT_MS = 10 * 60_000;

const log = createLogger({ service: 'robot-worker' });
const config = loadWorkerConfig();
const browser = new WorkerBrowser(config.chromiumPath ? { executablePath: config.chromiumPath } : {});
const dynamo = new DynamoDBClient({});
const worker = startWorker({
  sqs: new SQSClient({}),
  sfn: new SFNClient({}),
  s3: new S3Client({ forcePathStyle: config.s3ForcePathStyle }),
  store: new DynamoJobStore(dynamo, config.jobsTable),
  items: new DynamoItemStore(dynamo, config.itemsTable),
  leases: new DynamoPortalLeaseStore(dynamo, config.leasesTable),
  secrets: new SecretsManagerSource(new SecretsManagerClient({})),
  secretsPrefix: config.secretsPrefix,
  portalMaxSessions: config.portalMaxSessions,
  // Three missed heartbeats and the slot of a dead worker is free again.
  leaseTtlSeconds: config.heartbeatSeconds * 3,
  leaseWaitMs: PORTAL_SLOT_WAIT_MS,
  robots: robotCatalog,
  sessions: browser,
  queueUrl: config.queueUrl,
  artifactsBucket: config.artifactsBucket,
  egressAllowHosts: config.egressAllowHosts,
  heartbeatSeconds: config.heartbeatSeconds,
  concurrency: config.concurrency,
  log,
});

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('worker.signal', { signal });
  await worker.stop(DRAIN_DEADLINE_MS);
  await browser.close();
  process.exit(0);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, (received) => void shutdown(received));
