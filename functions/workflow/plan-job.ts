import { intEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { planJob } from '../../core/fan-out';
import { ProgressCountingItemStore } from '../../core/progress';
import type { WorkflowInput } from '../../core/workflow-contract';
import { robotCatalog } from '../../robots';
import { itemStoreFromEnv, jobStoreFromEnv } from '../shared/adapters';
import { logger, withObservability } from '../shared/observability';

const store = jobStoreFromEnv();
/** Writing the items sets the job's progress total (core/progress.ts). */
const deps = { store, items: new ProgressCountingItemStore(itemStoreFromEnv(), store), robots: robotCatalog };
/** Items per chunk (stage setting robot.chunkSize). */
const chunkSize = intEnv(ENV.jobChunkSize, 100);

/** PlanJob step: the job's items written, split into chunks for the Map state. */
export const handler = withObservability(async ({ jobId }: WorkflowInput) => {
  logger.appendKeys({ jobId });
  const plan = await planJob(deps, jobId, chunkSize);
  logger.info('job planned', { fanOut: plan.fanOut, chunks: plan.chunks.length, chunkSize });
  return plan;
});
