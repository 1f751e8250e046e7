import document from '../../docs/openapi.json';
import { apiHandler, json } from '../shared/http';

/** GET /openapi.json — the API's OpenAPI 3.1 document (docs/openapi.json, `npm run openapi`), public and cacheable. */
export const handler = apiHandler(async () => json(200, document, { 'cache-control': 'public, max-age=300' }));
