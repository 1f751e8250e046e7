import { deleteCredential } from '../../core/credentials';
import { credentialDepsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, noContent, pathParam } from '../shared/http';

const deps = credentialDepsFromEnv();

/** DELETE /secrets/{name}[?scope=shared] — deletes the credentials at once (no recovery window). */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  await deleteCredential(deps, caller, pathParam(event, 'name'), event.queryStringParameters ?? {});
  return noContent();
});
