import { listJobItems } from '../../core/items-service';
import { artifactLinksFromEnv, itemStoreFromEnv, jobStoreFromEnv, pageCursorsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json, pathParam } from '../shared/http';

const deps = { store: jobStoreFromEnv(), items: itemStoreFromEnv({ cursors: pageCursorsFromEnv() }), links: artifactLinksFromEnv() };

/** GET /jobs/{jobId}/items?limit=&nextToken=&status= — the job's work items in submission order, with download links. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  return json(200, await listJobItems(deps, caller, pathParam(event, 'jobId'), event.queryStringParameters ?? {}));
});
