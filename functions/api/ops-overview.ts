import { operationsOverview } from '../../core/operations';
import { loadPortalSessionCaps } from '../../core/portal-session-caps';
import { jobStoreFromEnv, portalSlotsFromEnv, robotQueuesFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json } from '../shared/http';

const deps = {
  jobs: jobStoreFromEnv(),
  queues: robotQueuesFromEnv(),
  slots: portalSlotsFromEnv(),
  sessionCaps: loadPortalSessionCaps(),
};

/** GET /ops/overview — admins: queue depths, running jobs, last hour's throughput, portal session slots. */
export const handler = apiHandler(async (event) => json(200, await operationsOverview(deps, callerOf(event))));
