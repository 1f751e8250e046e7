import { cancelJob } from '../../core/jobs';
import { jobStoreFromEnv } from '../shared/adapters';
import { logger } from '../shared/observability';
import { apiHandler, callerOf, json, pathParam } from '../shared/http';

const store = jobStoreFromEnv();

/** POST /jobs/{jobId}/cancel — QUEUED or RUNNING jobs only; the robot stops at its next check. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  logger.appendKeys({ jobId: pathParam(event, 'jobId') });
  return json(200, await cancelJob(store, caller, pathParam(event, 'jobId')));
});
