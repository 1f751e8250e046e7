import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROUTE_CONTRACTS, ROBOT_INPUT_EXAMPLES } from '../../functions/api/contract';
import { OPENAPI_FILE, openApiDocument, pathParameterNames, robotInputSchema, serializedOpenApi } from '../../functions/api/openapi';
import { API_ROUTES } from '../../functions/api/routes';
import { ROBOTS } from '../../robots';
import { ResponseContract } from '../support/response-contract';

/**
 * The OpenAPI document (functions/api/openapi.ts): in step with docs/openapi.json, complete for
 * every route of the table, its examples valid, and clean for a third-party linter (Redocly CLI).
 */
const repoRoot = path.resolve(import.meta.dirname, '../..');
const document = openApiDocument() as any;
const operations = Object.entries(document.paths as Record<string, Record<string, any>>).flatMap(([route, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ route, method, operation })),
);

describe('the OpenAPI document', () => {
  it('is what docs/openapi.json holds (run `npm run openapi` after changing routes or the contract)', () => {
    expect(readFileSync(path.join(repoRoot, OPENAPI_FILE), 'utf8') === serializedOpenApi(document), `${OPENAPI_FILE} is stale: run npm run openapi`).toBe(true);
  });

  it('documents every route of the route table with its success and error responses', () => {
    const undocumented = API_ROUTES.filter((route) => !ROUTE_CONTRACTS[route.id]).map((route) => `${route.id} (${route.method} ${route.path})`);
    expect(undocumented, 'routes without an entry in ROUTE_CONTRACTS (functions/api/contract.ts)').toEqual([]);
    expect(Object.keys(ROUTE_CONTRACTS).filter((id) => !API_ROUTES.some((route) => route.id === id)), 'contracts of routes that do not exist').toEqual([]);
    for (const route of API_ROUTES) {
      const operation = document.paths[route.path]?.[route.method.toLowerCase()];
      const statuses = Object.keys(operation?.responses ?? {});
      expect(statuses.some((status) => status.startsWith('2')), `${route.id}: a success response`).toBe(true);
      expect(statuses.some((status) => status.startsWith('4')), `${route.id}: an error response`).toBe(true);
      if (route.authorized) expect(statuses, route.id).toContain('401');
      expect(operation.parameters.filter((parameter: any) => parameter.in === 'path').map((parameter: any) => parameter.name)).toEqual(pathParameterNames(route));
    }
  });

  it('is public only where the route table says so; machine routes need a client-credentials token and an API key', () => {
    for (const route of API_ROUTES) {
      const people = document.paths[route.path][route.method.toLowerCase()];
      expect(people.security, route.id).toEqual(route.authorized ? undefined : []);
      const machine = document.paths[`/machine${route.path}`]?.[route.method.toLowerCase()];
      if (!route.authorized) {
        expect(machine, route.id).toBeUndefined();
        continue;
      }
      expect(Object.keys(machine.security[0]).sort(), route.id).toEqual(['machineApiKey', 'machineClientCredentials']);
    }
    expect(document.security).toEqual([{ cognitoIdToken: [] }]);
  });

  it('describes each robot input with the JSON Schema GET /robots serves, and an example its schema accepts', () => {
    for (const robot of ROBOTS) {
      expect(document.components.schemas[`RobotInput.${robot.name}`]).toEqual(robotInputSchema(robot.input));
      const example = ROBOT_INPUT_EXAMPLES[robot.name];
      expect(example, `an input example for ${robot.name}`).toBeDefined();
      expect(robot.input.safeParse(example).error).toBeUndefined();
    }
  });

  it('has a request example for every body, each accepted by the schema its handler validates with', () => {
    const route = (id: string) => API_ROUTES.find((candidate) => candidate.id === id)!;
    for (const { route: routePath, method, operation } of operations) {
      for (const [mediaType, content] of Object.entries((operation.requestBody?.content ?? {}) as Record<string, any>)) {
        expect(Object.keys(content.examples ?? {}).length, `${method} ${routePath} ${mediaType}: an example`).toBeGreaterThan(0);
      }
    }
    const contract = Object.entries(ROUTE_CONTRACTS);
    for (const [id, { jsonBody, multipartBody }] of contract) {
      const schema = route(id).jsonBodySchema ?? jsonBody?.schema;
      for (const { value } of Object.values(jsonBody?.examples ?? {})) expect(schema!.safeParse(value).error, id).toBeUndefined();
      if (multipartBody) {
        const { file: _file, ...fields } = multipartBody.example;
        expect(multipartBody.fields.safeParse(fields).error, id).toBeUndefined();
      }
    }
  });

  it('passes Redocly CLI lint (recommended rules, redocly.yaml) with 0 errors', async () => {
    const redocly = path.join(repoRoot, 'node_modules/@redocly/cli/bin/cli.js');
    const { stdout } = await promisify(execFile)(process.execPath, [redocly, 'lint', OPENAPI_FILE, '--format=json'], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 }).catch(
      (failure: { stdout: string }) => failure,
    );
    const { totals, problems } = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { totals: { errors: number; warnings: number }; problems: Array<{ ruleId: string; severity: string; message: string }> };
    console.log(`redocly lint ${OPENAPI_FILE}: errors=${totals.errors} warnings=${totals.warnings}`);
    expect(problems.filter((problem) => problem.severity === 'error')).toEqual([]);
    expect(totals.errors).toBe(0);
  }, 60_000);

  it('lets the e2e response checker (test/support/response-contract.ts) tell conforming responses from others', () => {
    const contract = new ResponseContract(JSON.parse(serializedOpenApi(document)));
    const job = { jobId: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e', robot: 'web-snapshot', status: 'QUEUED', input: {}, attempts: 0, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', artifacts: [] };
    const notFound = { error: { code: 'JOB_NOT_FOUND', message: 'Job x does not exist' } };
    expect(contract.check('GET', `/jobs/${job.jobId}`, 200, job)).toBeUndefined();
    expect(contract.check('GET', '/jobs/x', 404, notFound)).toBeUndefined();
    expect(contract.check('GET', '/nowhere', 404, { error: { code: 'NOT_FOUND', message: 'No route' } })).toBeUndefined();
    expect(contract.check('DELETE', '/schedules/7a1c2d3e-5f60-4718-8293-a4b5c6d7e8f9', 204, undefined)).toBeUndefined();
    expect(contract.check('GET', `/jobs/${job.jobId}`, 200, { ...job, requestHash: 'abc' })).toMatch(/additional/);
    expect(contract.check('GET', `/jobs/${job.jobId}`, 200, { ...job, status: 'DONE' })).toMatch(/status/);
    expect(contract.check('GET', '/jobs?limit=1', 409, notFound)).toMatch(/not documented/);
    expect(contract.check('GET', '/jobs/x', 404, { message: 'bare' })).toBeDefined();
    expect(contract.check('GET', '/nowhere', 200, {})).toBeDefined();
    expect(contract.violations).toHaveLength(5);
    expect(contract.checked).toBe(9);
  });
});
