import { listJobs } from '../../core/jobs';
import { jobStoreFromEnv, pageCursorsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json } from '../shared/http';

const store = jobStoreFromEnv({ cursors: pageCursorsFromEnv() });

/** GET /jobs?limit=&nextToken=&status= — the caller's jobs (admins: everyone's), newest first. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  return json(200, await listJobs(store, caller, event.queryStringParameters ?? {}));
});
