import { redriveDeadLetters, requireAdmin } from '../../core/operations';
import { robotQueuesFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json, jsonBodyOf } from '../shared/http';

const deps = { queues: robotQueuesFromEnv() };

/** POST /ops/dlq/redrive — admins: `{"messageId"}` moves one dead letter back to the robot queue, `{}` or no body all of them. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  // A non-admin learns nothing about the body's shape: 403 before it is read.
  requireAdmin(caller);
  return json(200, await redriveDeadLetters(deps, caller, event.body ? jsonBodyOf(event) : {}));
});
