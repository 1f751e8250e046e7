import { listEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { retryJob } from '../../core/items-service';
import { robotCatalog } from '../../robots';
import { itemStoreFromEnv, jobStoreFromEnv, workflowStarterFromEnv, jobTimeoutsFromEnv, credentialDepsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, headerOf, json, jsonBodyOf, pathParam } from '../shared/http';

const deps = {
  store: jobStoreFromEnv(),
  items: itemStoreFromEnv(),
  workflow: workflowStarterFromEnv(),
  robots: robotCatalog,
  egressAllowHosts: listEnv(ENV.egressAllowHosts),
  timeouts: jobTimeoutsFromEnv(),
  credentials: credentialDepsFromEnv(),
};

/**
 * POST /jobs/{jobId}/retry — a new job for the failed items: `{"scope": "technical"}` (the default,
 * also with no body) or `"all-failed"`; idempotent with Idempotency-Key.
 */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  const body = event.body ? jsonBodyOf(event) : {};
  const { job, replayed } = await retryJob(deps, caller, pathParam(event, 'jobId'), headerOf(event, 'idempotency-key'), body);
  return json(202, job, { location: `/jobs/${job.jobId}`, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) });
});
