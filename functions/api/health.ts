import { apiHandler, json } from '../shared/http';

/** GET /health — public liveness check. */
export const handler = apiHandler(async () => json(200, { status: 'ok', service: 'roboport', time: new Date().toISOString() }));
