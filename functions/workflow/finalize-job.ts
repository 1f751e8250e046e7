import { settleSuccess, toSettleOutput } from '../../core/jobs';
import type { FinalizeInput } from '../../core/workflow-contract';
import { jobStoreFromEnv } from '../shared/adapters';
import { countSettledJob, logger, withObservability } from '../shared/observability';

const store = jobStoreFromEnv();

/** FinalizeJob step: the robot reported success; settle the job as SUCCEEDED or PARTIAL. */
export const handler = withObservability(async (input: FinalizeInput) => {
  logger.appendKeys({ jobId: input.jobId });
  const job = await settleSuccess(store, input);
  logger.info('job settled', { robot: job.robot, status: job.status });
  countSettledJob(job);
  return toSettleOutput(job);
});
