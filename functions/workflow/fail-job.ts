import { settleFailure, toSettleOutput } from '../../core/jobs';
import type { FailInput } from '../../core/workflow-contract';
import { jobStoreFromEnv } from '../shared/adapters';
import { countSettledJob, logger, withObservability } from '../shared/observability';

const store = jobStoreFromEnv();

/** FailJob step: the robot failed, ran past the job's timeoutSeconds, or the job was cancelled. */
export const handler = withObservability(async (input: FailInput) => {
  logger.appendKeys({ jobId: input.jobId });
  const job = await settleFailure(store, input);
  // The reported error next to the settled one: a job cancelled meanwhile keeps CANCELLED.
  logger.info('job settled', { robot: job.robot, status: job.status, error: job.error, reported: input.failure.Error });
  countSettledJob(job);
  return toSettleOutput(job);
});
