import { getCredential } from '../../core/credentials';
import { credentialDepsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json, pathParam } from '../shared/http';

const deps = credentialDepsFromEnv();

/** GET /secrets/{name}[?scope=shared] — the credentials' name, hosts and last change; never their values. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  return json(200, await getCredential(deps, caller, pathParam(event, 'name'), event.queryStringParameters ?? {}));
});
