import { writeFileSync } from 'node:fs';
import { openApiDocument, OPENAPI_FILE, serializedOpenApi } from '../functions/api/openapi';

/** `npm run openapi`: writes docs/openapi.json, which GET /openapi.json serves (a unit test fails when it is stale). */
writeFileSync(OPENAPI_FILE, serializedOpenApi(openApiDocument()));
process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
