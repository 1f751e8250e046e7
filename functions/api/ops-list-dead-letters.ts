import { listDeadLetters } from '../../core/operations';
import { jobStoreFromEnv, robotQueuesFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json } from '../shared/http';

const deps = { jobs: jobStoreFromEnv(), queues: robotQueuesFromEnv() };

/** GET /ops/dlq — admins: the robot DLQ's messages with their job and reason, left in the queue. */
export const handler = apiHandler(async (event) => json(200, await listDeadLetters(deps, callerOf(event))));
