import { settleFailure, toSettleOutput } from '../../core/jobs';
import type { FailInput } from '../../core/workflow-contract';
import { jobStoreFromEnv } from '../shared/adapters';
import { countSettledJob, logger, withObservability } from '../shared/observability';

const store = jobStoreFromEnv();

/** FailJob step: the robot failed, timed out, lost its heartbeat or was cancelled. */
export const handler = withObservability(async (input: FailInput) => {
  logger.appendKeys({ jobId: input.jobId });
  const job = await settleFailure(store, input);
  logger.info('job settled', { robot: job.robot, status: job.status, error: job.error });
  countSettledJob(job.status);
  return toSettleOutput(job);
});
