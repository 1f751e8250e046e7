import { intEnv, listEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { DEFAULT_SCHEDULE_LIMITS, createSchedule } from '../../core/schedules';
import { robotCatalog } from '../../robots';
import { scheduleStoreFromEnv, scheduleTriggersFromEnv, jobTimeoutsFromEnv, credentialDepsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json, jsonBodyOf } from '../shared/http';

const deps = {
  store: scheduleStoreFromEnv(),
  triggers: scheduleTriggersFromEnv(),
  robots: robotCatalog,
  egressAllowHosts: listEnv(ENV.egressAllowHosts),
  timeouts: jobTimeoutsFromEnv(),
  credentials: credentialDepsFromEnv(),
  limits: {
    ...DEFAULT_SCHEDULE_LIMITS,
    minIntervalMinutes: intEnv(ENV.scheduleMinIntervalMinutes, DEFAULT_SCHEDULE_LIMITS.minIntervalMinutes),
  },
};

/** POST /schedules — a recurring job: a job submission plus cron(...) or rate(...) in a time zone. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  const schedule = await createSchedule(deps, caller, jsonBodyOf(event));
  return json(201, schedule, { location: `/schedules/${schedule.scheduleId}` });
});
