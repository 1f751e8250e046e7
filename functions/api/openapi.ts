import * as z from 'zod';
import { MACHINE_PATH_PREFIX } from '../../lib/api';
import { MACHINE_SCOPES } from '../../lib/auth';
import { ROBOTS } from '../../robots';
import { DEFAULT_PATH_PARAMETER, PATH_PARAMETERS, RESPONSE_SCHEMAS, ROUTE_CONTRACTS, TAGS, type ErrorStatus, type RouteContract } from './contract';
import { submissionSchema } from '../../core/jobs';
import { API_ROUTES, type ApiRoute } from './routes';

/**
 * The OpenAPI 3.1 document of the REST API, generated from the route table (routes.ts) and the
 * contract (contract.ts): every route, its parameters, bodies, responses, errors and security.
 * Schemas are zod's own JSON Schema output (draft 2020-12, the dialect of OpenAPI 3.1).
 * `npm run openapi` writes it to docs/openapi.json, which GET /openapi.json serves.
 */
type Json = Record<string, unknown>;

const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: 'Invalid request: `details.fields[].field` names each offending field',
  401: 'No valid token',
  403: 'Not allowed (admins only, WAF, machine clients: API key or token scope)',
  404: 'Does not exist, or is not yours',
  409: 'Conflict: illegal state transition or Idempotency-Key reused with another body',
  413: 'Body too large',
  415: 'Body is not application/json',
  429: 'Throttled or over quota',
  503: 'A dependency refused the work; retry',
};

const SECURITY_SCHEMES = {
  cognitoIdToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A Cognito ID token of the stack’s user pool (USER_PASSWORD_AUTH; `npm run token` locally)',
  },
  machineClientCredentials: {
    type: 'oauth2',
    description: 'Machine clients (AWS only, `/machine/...` routes): an access token of the client-credentials flow; the token URL is the stack output `TokenUrl`',
    flows: {
      clientCredentials: {
        tokenUrl: 'https://roboport-stage-account.auth.region.amazoncognito.com/oauth2/token',
        scopes: { [MACHINE_SCOPES.read]: 'GET routes', [MACHINE_SCOPES.write]: 'Every other method' },
      },
    },
  },
  machineApiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'Machine clients (AWS only): the API key of their usage plan (per-key throttle and daily quota)',
  },
};

export function openApiDocument(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of API_ROUTES) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operationOf(route, 'people');
  }
  for (const route of API_ROUTES.filter((candidate) => candidate.authorized)) {
    (paths[`${MACHINE_PATH_PREFIX}${route.path}`] ??= {})[route.method.toLowerCase()] = operationOf(route, 'machine');
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Roboport API',
      version: '1.0.0',
      summary: 'Browser robots as a service: submit jobs, follow them, download what they produced',
      description:
        'Generated from functions/api/routes.ts and functions/api/contract.ts (`npm run openapi`). Errors are always `{"error": {"code", "message", "details"?}}`. Machine clients call the authorized routes under `/machine` (AWS only).',
      license: { name: 'UNLICENSED', identifier: 'UNLICENSED' },
    },
    servers: [{ url: '.', description: 'Where this document is served from: the stack output ApiUrl (AWS: https://<api-id>.execute-api.<region>.amazonaws.com/v1/)' }],
    security: [{ cognitoIdToken: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: { schemas: componentSchemas(), securitySchemes: SECURITY_SCHEMES },
  };
}

function operationOf(route: ApiRoute, audience: 'people' | 'machine'): Json {
  const contract: RouteContract | undefined = ROUTE_CONTRACTS[route.id];
  const machine = audience === 'machine';
  return {
    operationId: machine ? `machine${route.id}` : lowerFirst(route.id),
    summary: contract?.summary ?? `${route.method} ${route.path}`,
    ...(contract?.description || machine ? { description: [contract?.description, machine ? `Machine clients (AWS only): as ${route.method} ${route.path}.` : undefined].filter(Boolean).join(' ') } : {}),
    tags: [machine ? 'Machine clients' : (contract?.tag ?? 'Undocumented')],
    ...(route.authorized
      ? machine
        ? { security: [{ machineClientCredentials: [route.method === 'GET' ? MACHINE_SCOPES.read : MACHINE_SCOPES.write], machineApiKey: [] }] }
        : {}
      : { security: [] }),
    parameters: parametersOf(route, contract),
    ...requestBodyOf(route, contract),
    // A route without a contract has no responses: test/unit/openapi.test.ts names it.
    ...(contract ? { responses: responsesOf(route, contract, machine) } : {}),
  };
}

function parametersOf(route: ApiRoute, contract: RouteContract | undefined): Json[] {
  const path = pathParameterNames(route).map((name) => {
    const known = PATH_PARAMETERS[name];
    return { name, in: 'path', required: true, schema: jsonSchema(known?.schema ?? DEFAULT_PATH_PARAMETER, 'input'), ...(known ? { example: known.example } : {}) };
  });
  const query = contract?.query ? Object.entries(contract.query.shape).map(([name, schema]) => ({ name, in: 'query', ...parameterSchema(schema as z.ZodType)
  })) : [];
  const headers = Object.entries(contract?.headers ?? {}).map(([name, { schema, description }]) => ({ name, in: 'header', description, schema: jsonSchema(schema, 'input') }));
  return [...path, ...query, ...headers];
}

function parameterSchema(schema: z.ZodType): Json {
  const { description, ...rest } = jsonSchema(schema, 'input');
  const optional = schema.safeParse(undefined).success;
  return { required: !optional, ...(description ? { description } : {}), schema: rest };
}

export function pathParameterNames(route: ApiRoute): string[] {
  return [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => name!);
}

function requestBodyOf(route: ApiRoute, contract: RouteContract | undefined): Json {
  const jsonBodySchema = route.jsonBodySchema ?? contract?.jsonBody?.schema;
  const content: Json = {};
  if (jsonBodySchema) {
    const schema = jsonSchema(jsonBodySchema, 'input');
    content['application/json'] = {
      schema: jsonBodySchema === submissionSchema ? withRobotInputs(schema) : schema,
      ...(contract?.jsonBody ? { examples: contract.jsonBody.examples } : {}),
    };
  }
  if (contract?.multipartBody) {
    const { fields, file, example } = contract.multipartBody;
    const schema = jsonSchema(fields, 'input');
    content['multipart/form-data'] = {
      schema: {
        ...schema,
        properties: { ...(schema.properties as Json), file: { type: 'string', contentMediaType: 'application/octet-stream', description: file } },
        required: [...((schema.required as string[] | undefined) ?? []), 'file'],
      },
      examples: { sheet: { summary: 'Invoices from a CSV sheet', value: example } },
    };
  }
  return Object.keys(content).length ? { requestBody: { required: true, content } } : {};
}

/** A job submission: `input` is the named robot's input (components.schemas RobotInput.<name>). */
function withRobotInputs(submission: Json): Json {
  const byRobot = ROBOTS.map((robot) => ({
    properties: { robot: { const: robot.name }, input: { $ref: `#/components/schemas/${robotInputComponent(robot.name)}` } },
    required: ['robot'],
  }));
  return { allOf: [submission, { oneOf: byRobot }] };
}

const robotInputComponent = (name: string) => `RobotInput.${name}`;

function responsesOf(route: ApiRoute, contract: RouteContract, machine: boolean): Json {
  const responses: Json = {};
  for (const [status, { description, schema, headers }] of Object.entries(contract.success)) {
    responses[status] = {
      description,
      ...(headers ? { headers: Object.fromEntries(Object.entries(headers).map(([name, text]) => [name, { description: text, schema: { type: 'string' } }])) } : {}),
      ...(schema ? { content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } } } : {}),
    };
  }
  const gateway: ErrorStatus[] = [...(route.authorized ? [401 as const] : []), ...(pathParameterNames(route).length ? [400 as const] : []), ...(machine ? [403 as const] : []), 429];
  for (const status of [...new Set([...contract.errors, ...gateway])].sort()) {
    responses[status] = { description: ERROR_DESCRIPTIONS[status], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  return responses;
}

/** Response schemas (with references between them) and each robot's input schema, as GET /robots serves it. */
function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(RESPONSE_SCHEMAS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { io: 'output', uri: (id) => `#/components/schemas/${id}` }) as { schemas: Record<string, Json> };
  const responses = Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [id, schema]));
  const robotInputs = Object.fromEntries(ROBOTS.map((robot) => [robotInputComponent(robot.name), robotInputSchema(robot.input)]));
  return { ...responses, ...robotInputs };
}

/** The options functions/api/list-robots.ts serves a robot's input schema with. */
export function robotInputSchema(input: z.ZodType): Json {
  return z.toJSONSchema(input, { io: 'input', unrepresentable: 'any' }) as Json;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

const lowerFirst = (text: string) => `${text[0]!.toLowerCase()}${text.slice(1)}`;

/** Where `npm run openapi` writes the document, relative to the repository root (the handler serves this file). */
export const OPENAPI_FILE = 'docs/openapi.json';

export function serializedOpenApi(document: Json): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
