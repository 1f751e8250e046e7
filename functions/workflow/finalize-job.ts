import middy from '@middy/core';
import { settleSuccess } from '../../core/jobs';
import type { FinalizeInput } from '../../core/workflow-contract';
import { jobStoreFromEnv } from '../shared/adapters';

const store = jobStoreFromEnv();

/** FinalizeJob step: the robot reported success; settle the job as SUCCEEDED or PARTIAL. */
export const handler = middy<FinalizeInput>().handler(async (input) => {
  const job = await settleSuccess(store, input);
  return { jobId: job.jobId, status: job.status };
});
