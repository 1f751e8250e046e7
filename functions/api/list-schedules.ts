import { listSchedules } from '../../core/schedules';
import { pageCursorsFromEnv, scheduleStoreFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json } from '../shared/http';

const store = scheduleStoreFromEnv({ cursors: pageCursorsFromEnv() });

/** GET /schedules?limit=&nextToken= — the caller's schedules (admins: everyone's), newest first. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  return json(200, await listSchedules(store, caller, event.queryStringParameters ?? {}));
});
