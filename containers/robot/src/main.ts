import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createLogger } from '../../../core/logger';
import { WorkerBrowser } from './browser';
import { loadWorkerConfig } from './config';
import { runtimeDepsFromConfig } from './runtime-deps';
import { ecsScaleInProtection } from './scale-in-protection';
import { startWorker } from './worker';

/**
 * The robot worker process (Fargate task, or `tsx containers/robot/src/main.ts` locally).
 * AWS endpoints come from the standard AWS_ENDPOINT_URL_* variables.
 */

/** Fargate (Spot) sends SIGTERM at most 120 s before SIGKILL: drain, then release and close. */
const DRAIN_DEADLINE_MS = 90_000;
/** A job waits this long for a free portal slot before its attempt fails (and is retried later). */
const PORTAL_SLOT_WAIT_MS = 10 * 60_000;

const log = createLogger({ component: 'robot-worker' });
const config = loadWorkerConfig();
const browser = new WorkerBrowser(config.chromiumPath ? { executablePath: config.chromiumPath } : {});
const worker = startWorker({
  ...runtimeDepsFromConfig(config, { log, sessions: browser, leaseWaitMs: PORTAL_SLOT_WAIT_MS }),
  sqs: new SQSClient({}),
  sfn: new SFNClient({}),
  queueUrl: config.queueUrl,
  concurrency: config.concurrency,
  // Injected by the ECS agent into every task; absent locally.
  protection: ecsScaleInProtection(process.env.ECS_AGENT_URI, log),
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
