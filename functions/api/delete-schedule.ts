import { deleteSchedule } from '../../core/schedules';
import { scheduleStoreFromEnv, scheduleTriggersFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, noContent, pathParam } from '../shared/http';

const deps = { store: scheduleStoreFromEnv(), triggers: scheduleTriggersFromEnv() };

/** DELETE /schedules/{scheduleId} — stops the schedule; jobs it already submitted are not touched. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  await deleteSchedule(deps, caller, pathParam(event, 'scheduleId'));
  return noContent();
});
