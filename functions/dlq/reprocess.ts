import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { requireEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { createLogger } from '../../core/logger';
import { WorkerBrowser } from '../../runtime/browser';
import { loadRuntimeConfig } from '../../runtime/config';
import { runtimeDepsFromConfig } from '../../runtime/runtime-deps';
import { webhookSecretStoreFromEnv, webhookSenderFromEnv } from '../shared/adapters';
import { observability } from '../shared/observability';
import { reprocessDeadLetters, type DeadlineMargins } from './last-attempt';

/**
 * SQS event source on the robot DLQ (batch size 1, partial batch responses): the last attempt
 * of a job, with @sparticuz/chromium (WorkerBrowser's default) unpacked to /tmp.
 */
const config = loadRuntimeConfig();
const browser = new WorkerBrowser(config.chromiumPath ? { executablePath: config.chromiumPath } : {});
const runtime = runtimeDepsFromConfig(config, {
  log: createLogger({ component: 'dlq-reprocessor' }),
  sessions: browser,
  // A portal slot must come well within the invocation: the deadline drains the attempt anyway.
  leaseWaitMs: 2 * 60_000,
});
const deps = {
  ...runtime,
  sfn: new SFNClient({}),
  sqs: new SQSClient({}),
  deadLetterQueueUrl: requireEnv(ENV.robotDeadLetterQueueUrl),
  webhooks: { jobs: runtime.store, items: runtime.items, secrets: webhookSecretStoreFromEnv(), sender: webhookSenderFromEnv() },
  webhookRetryDelaysMs: [5_000, 30_000],
};

/** Drain 2 minutes before the timeout (the current item finishes), abort 30 s before it (close, release, report). */
const MARGINS: DeadlineMargins = { drainMs: 120_000, stopMs: 30_000 };

export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(observability<SQSEvent, SQSBatchResponse>())
  .handler(async (event: SQSEvent, context: Context) => {
    try {
      return await reprocessDeadLetters(event.Records, deps, () => context.getRemainingTimeInMillis(), MARGINS);
    } finally {
      // No idle Chromium in a frozen sandbox; a launch costs ~50 ms against a whole attempt.
      await browser.close();
    }
  });
