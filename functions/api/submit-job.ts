import { listEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { submitJob } from '../../core/jobs';
import { robotCatalog } from '../../robots';
import { jobStoreFromEnv, workflowStarterFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, headerOf, json, jsonBodyOf } from '../shared/http';

const deps = {
  store: jobStoreFromEnv(),
  workflow: workflowStarterFromEnv(),
  robots: robotCatalog,
  egressAllowHosts: listEnv(ENV.egressAllowHosts),
};

/** POST /jobs — validates the submission and queues the job (idempotent with Idempotency-Key). */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  const { job, replayed } = await submitJob(deps, caller, jsonBodyOf(event), headerOf(event, 'idempotency-key'));
  return json(202, job, { location: `/jobs/${job.jobId}`, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) });
});
