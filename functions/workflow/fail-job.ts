import middy from '@middy/core';
import { settleFailure } from '../../core/jobs';
import type { FailInput } from '../../core/workflow-contract';
import { jobStoreFromEnv } from '../shared/adapters';

const store = jobStoreFromEnv();

/** FailJob step: the robot failed, timed out, lost its heartbeat or was cancelled. */
export const handler = middy<FailInput>().handler(async (input) => {
  const job = await settleFailure(store, input);
  return { jobId: job.jobId, status: job.status, ...(job.error ? { error: job.error } : {}) };
});
