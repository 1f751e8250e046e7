import { getJob } from '../../core/jobs';
import { artifactLinksFromEnv, jobStoreFromEnv } from '../shared/adapters';
import { logger } from '../shared/observability';
import { apiHandler, callerOf, json, pathParam } from '../shared/http';

const deps = { store: jobStoreFromEnv(), links: artifactLinksFromEnv() };

/** GET /jobs/{jobId} — the job with short-lived download links for its artifacts. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  logger.appendKeys({ jobId: pathParam(event, 'jobId') });
  return json(200, await getJob(deps, caller, pathParam(event, 'jobId')));
});
