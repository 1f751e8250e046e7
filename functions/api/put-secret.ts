import { putCredential } from '../../core/credentials';
import { credentialDepsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json, jsonBodyOf, pathParam } from '../shared/http';

const deps = credentialDepsFromEnv();

/** PUT /secrets/{name}[?scope=shared] — creates or rotates portal credentials; answers their metadata only. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  const { credential, created } = await putCredential(deps, caller, pathParam(event, 'name'), event.queryStringParameters ?? {}, jsonBodyOf(event));
  return json(created ? 201 : 200, credential);
});
