import { getSchedule } from '../../core/schedules';
import { scheduleStoreFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json, pathParam } from '../shared/http';

const store = scheduleStoreFromEnv();

/** GET /schedules/{scheduleId} — the schedule with its next run time. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  return json(200, await getSchedule(store, caller, pathParam(event, 'scheduleId')));
});
