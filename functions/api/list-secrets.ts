import { listCredentials } from '../../core/credentials';
import { credentialDepsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json } from '../shared/http';

const deps = credentialDepsFromEnv();

/** GET /secrets — the caller's credentials and the shared ones, metadata only. */
export const handler = apiHandler(async (event) => json(200, await listCredentials(deps, callerOf(event))));
