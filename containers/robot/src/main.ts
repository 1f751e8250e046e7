import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { WORKER_DRAIN_SECONDS } from '../../../core/delivery';
import { createLogger } from '../../../core/logger';
import { WorkerBrowser } from '../../../runtime/browser';
import { loadWorkerConfig } from '../../../runtime/config';
import { runtimeDepsFromConfig } from '../../../runtime/runtime-deps';
import { ecsScaleInProtection } from './scale-in-protection';
import { startWorker } from './worker';

/**
 * The robot worker process (Fargate task, or `tsx containers/robot/src/main.ts` locally).
 * AWS endpoints come from the standard AWS_ENDPOINT_URL_* variables.
 */


const log = createLogger({ component: 'robot-worker' });
const config = loadWorkerConfig();
const browser = new WorkerBrowser(config.chromiumPath ? { executablePath: config.chromiumPath } : {});
const worker = startWorker({
  // A job waiting for a portal slot leaves its worker slot to others (worker.ts), so it may wait unbounded.
  ...runtimeDepsFromConfig(config, { log, sessions: browser, leaseWaitMs: undefined }),
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
  await worker.stop(WORKER_DRAIN_SECONDS * 1000);
  await browser.close();
  process.exit(0);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, (received) => void shutdown(received));
