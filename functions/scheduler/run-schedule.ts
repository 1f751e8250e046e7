import { listEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { runSchedule } from '../../core/schedules';
import { robotCatalog } from '../../robots';
import { jobStoreFromEnv, scheduleStoreFromEnv, workflowStarterFromEnv, jobTimeoutsFromEnv, credentialDepsFromEnv } from '../shared/adapters';
import { logger, withObservability } from '../shared/observability';

const deps = {
  schedules: scheduleStoreFromEnv(),
  store: jobStoreFromEnv(),
  workflow: workflowStarterFromEnv(),
  robots: robotCatalog,
  egressAllowHosts: listEnv(ENV.egressAllowHosts),
  timeouts: jobTimeoutsFromEnv(),
  credentials: credentialDepsFromEnv(),
};

/**
 * The EventBridge Scheduler target: `{scheduleId, scheduledTime}` in, one job for the schedule's
 * owner out. Errors are thrown so that Lambda retries the (idempotent) run; a submission that
 * no longer validates is logged instead, as retrying cannot fix it.
 */
export const handler = withObservability(async (event: unknown) => {
  const result = await runSchedule(deps, event);
  if (result.outcome === 'rejected') logger.error('scheduled job rejected', { event: event as Record<string, unknown>, reason: result.reason });
  else logger.info('schedule ran', { event: event as Record<string, unknown>, ...result });
  return result;
});
