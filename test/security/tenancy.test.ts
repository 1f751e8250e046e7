import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoItemStore } from '../../core/adapters/dynamo-item-store';
import { API_ROUTES } from '../../functions/api/routes';
import { LocalClient } from '../support/local-client';
import { b64url, jwtPayload, recordFigures, send, shapeProblem, type RawResponse } from './support/api';

const outputs = inject('outputs');
const client = new LocalClient(outputs);
const suffix = Date.now().toString(36);
const PASSWORD = `Tenancy-Passw0rd-${suffix}`;

let alice: string;
let mallory: string;
/** Everything of alice's that mallory must never see: ids, names, her user id, her password. */
const secretsOfAlice: string[] = [];
const owned: { jobIds: string[]; scheduleIds: string[]; secretName: string } = { jobIds: [], scheduleIds: [], secretName: `tenancy-${suffix}` };

/**
 * For each path parameter of API_ROUTES, one of alice's resources it can name. A new route with
 * a new parameter needs an entry here (the first test says so), so that every id-taking route
 * is attacked.
 */
const OWNED_BY_PARAMETER: Record<string, () => string> = {
  jobId: () => owned.jobIds[0]!,
  scheduleId: () => owned.scheduleIds[0]!,
  name: () => owned.secretName,
};

const parametersOf = (routePath: string) => [...routePath.matchAll(/\{(\w+)\}/g)].map(([, name]) => name!);
/** Writes last: mallory's PUT of a name creates her own credential, which her later GET would then find. */
const idRoutes = API_ROUTES.filter((route) => parametersOf(route.path).length > 0).sort((a, b) => Number(a.method === 'PUT') - Number(b.method === 'PUT'));
const aliceTarget = (routePath: string) => routePath.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(OWNED_BY_PARAMETER[name]!()));

beforeAll(async () => {
  alice = await client.signUpAndIn(`alice-${suffix}@roboport.local`);
  mallory = await client.signUpAndIn(`mallory-${suffix}@roboport.local`);
  for (let i = 0; i < 3; i++) {
    const job = await client.api('POST', '/jobs', { token: alice, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/?tenancy=${i}` } } });
    expect(job.status).toBe(202);
    owned.jobIds.push(job.body.jobId);
  }
  for (let i = 0; i < 2; i++) {
    // Once a year at 03:00 on 1 January: never fires while the suite runs.
    const schedule = await client.api('POST', '/schedules', {
      token: alice,
      body: { name: `tenancy ${i}`, robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` }, cron: 'cron(0 3 1 1 ? *)', timezone: 'UTC' },
    });
    expect(schedule.status).toBe(201);
    owned.scheduleIds.push(schedule.body.scheduleId);
  }
  const secret = await client.api('PUT', `/secrets/${owned.secretName}`, { token: alice, body: { username: 'alice', password: PASSWORD, hosts: ['portal.example.com'] } });
  expect(secret.status).toBe(201);
  // Items as the worker writes them when it starts the job (this stack runs no worker).
  const ports = JSON.parse(readFileSync(path.join(inject('dataDir'), 'ports.json'), 'utf8')) as { dynamodb: number };
  const dynamo = new DynamoDBClient({ region: outputs.Region, endpoint: `http://127.0.0.1:${ports.dynamodb}`, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await new DynamoItemStore(dynamo, 'roboport-local-items').ensureItems(owned.jobIds[0]!, ['100200300', '100200301', '100200302'], new Date().toISOString());
  secretsOfAlice.push(...owned.jobIds, ...owned.scheduleIds, String(jwtPayload(alice).sub), PASSWORD);
});

const figures = { attempts: 0, leaks: 0, wrongStatus: 0 };

/**
 * Counts the attempt; a leak is any of alice's secrets in mallory's answer (headers included)
 * that mallory did not send herself (a 404 may name the id it was asked for).
 */
function check(label: string, res: RawResponse, expected: number[], sent = ''): string[] {
  figures.attempts++;
  const problems: string[] = [];
  const seen = `${JSON.stringify(res.headers)}\n${res.text}`;
  const leaked = secretsOfAlice.filter((secret) => seen.includes(secret) && !sent.includes(secret));
  if (leaked.length) {
    figures.leaks++;
    problems.push(`${label}: leaks ${leaked.join(', ')}`);
  }
  if (!expected.includes(res.status)) {
    figures.wrongStatus++;
    problems.push(`${label}: status ${res.status} (expected ${expected.join('/')}) ${res.text.slice(0, 200)}`);
  }
  const shape = shapeProblem(res);
  if (shape) problems.push(`${label}: ${shape}`);
  return problems;
}

const as = (token: string, method: string, target: string, body?: unknown) =>
  send(outputs.ApiUrl, {
    method,
    target,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** A body each id route accepts, so that a refusal is about whose resource it is, not about the body. */
const bodyFor = (method: string, routePath: string) =>
  routePath.startsWith('/secrets/') && method === 'PUT' ? { username: 'mallory', password: 'Mallory-Passw0rd', hosts: ['evil.example.com'] } : undefined;

describe("another tenant's resources", () => {
  it('has one of alice’s resources for every path parameter of the route table', () => {
    const parameters = new Set(idRoutes.flatMap((route) => parametersOf(route.path)));
    expect([...parameters].filter((name) => !(name in OWNED_BY_PARAMETER))).toEqual([]);
  });

  it(`are 404 to mallory on every route that takes an id (${idRoutes.length}), and left as they were`, async () => {
    const problems: string[] = [];
    for (const route of idRoutes) {
      const target = aliceTarget(route.path);
      const res = await as(mallory, route.method, target, bodyFor(route.method, route.path));
      // PUT /secrets/{name} writes mallory's own credential of that name: never alice's (checked below).
      problems.push(...check(`${route.method} ${route.path}`, res, route.method === 'PUT' ? [200, 201] : [404], target));
    }
    for (const jobId of owned.jobIds) expect((await client.api('GET', `/jobs/${jobId}`, { token: alice })).body.status).toBe('QUEUED');
    for (const scheduleId of owned.scheduleIds) expect((await client.api('GET', `/schedules/${scheduleId}`, { token: alice })).status).toBe(200);
    const secret = await client.api('GET', `/secrets/${owned.secretName}`, { token: alice });
    expect(secret.body.hosts).toEqual(['portal.example.com']);
    expect(problems).toEqual([]);
  });

  it('are in none of mallory’s listings', async () => {
    const problems: string[] = [];
    for (const route of API_ROUTES.filter((candidate) => candidate.method === 'GET' && candidate.authorized && parametersOf(candidate.path).length === 0)) {
      // Admin-only routes (operations) refuse mallory, a client, outright.
      problems.push(...check(`GET ${route.path}`, await as(mallory, 'GET', `${route.path}?limit=100`), route.adminOnly ? [403] : [200, 400]));
      problems.push(...check(`GET ${route.path}`, await as(mallory, 'GET', route.path), route.adminOnly ? [403] : [200]));
    }
    expect(problems).toEqual([]);
  });

  it('cannot be reached with alice’s cursors: every foreign or tampered nextToken is 400, and nothing of hers comes back', async () => {
    const jobsPage = await client.api('GET', '/jobs?limit=1', { token: alice });
    const schedulesPage = await client.api('GET', '/schedules?limit=1', { token: alice });
    const itemsPage = await client.api('GET', `/jobs/${owned.jobIds[0]}/items?limit=1`, { token: alice });
    const cursors = { jobs: jobsPage.body.nextToken as string, schedules: schedulesPage.body.nextToken as string, items: itemsPage.body.nextToken as string };
    expect(Object.values(cursors).every(Boolean)).toBe(true);
    // Alice's own cursors work for alice.
    expect((await client.api('GET', `/jobs?limit=1&nextToken=${encodeURIComponent(cursors.jobs)}`, { token: alice })).status).toBe(200);
    const malloryJob = await client.api('POST', '/jobs', { token: mallory, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` } } });

    const [, payload, mac] = cursors.jobs.split('.') as [string, string, string];
    const aliceKey = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, string>;
    const malloryOwner = String(jwtPayload(mallory).sub);
    const attempts: Array<[string, string, string, number[]]> = [
      ['her jobs cursor on /jobs', mallory, `/jobs?nextToken=${cursors.jobs}`, [400]],
      ['her schedules cursor on /schedules', mallory, `/schedules?nextToken=${cursors.schedules}`, [400]],
      ['her items cursor on his own job', mallory, `/jobs/${malloryJob.body.jobId}/items?nextToken=${cursors.items}`, [400]],
      ['her items cursor on her job', mallory, `/jobs/${owned.jobIds[0]}/items?nextToken=${cursors.items}`, [404]],
      ['her jobs cursor on /schedules', mallory, `/schedules?nextToken=${cursors.jobs}`, [400]],
      ['her jobs cursor rewritten to his partition, MAC kept', mallory, `/jobs?nextToken=v1.${b64url({ ...aliceKey, owner: malloryOwner })}.${mac}`, [400]],
      ['an unsigned cursor of his partition (the old format)', mallory, `/jobs?nextToken=${b64url({ ...aliceKey, owner: malloryOwner })}`, [400]],
      ['a cursor with other attribute names', mallory, `/jobs?nextToken=v1.${b64url({ jobId: 'x', owner: malloryOwner, other: 'y' })}.${mac}`, [400]],
      ['a cursor holding NUL', mallory, `/jobs?nextToken=v1.${b64url({ ...aliceKey, owner: malloryOwner, createdKey: '\u0000' })}.${mac}`, [400]],
      ['a cursor holding a lone surrogate', mallory, `/jobs?nextToken=v1.%ED%A0%80.${mac}`, [400]],
      ['her schedules cursor used by alice on /jobs', alice, `/jobs?nextToken=${cursors.schedules}`, [400]],
    ];
    const problems: string[] = [];
    for (const [label, token, target, expected] of attempts) {
      const res = await as(token, 'GET', target);
      problems.push(...(token === mallory ? check(label, res, expected, target) : expected.includes(res.status) ? [] : [`${label}: status ${res.status}`]));
      if (res.status === 400) expect(JSON.parse(res.text).error.message, label).toMatch(/nextToken is invalid|malformed|Query parameters are invalid/);
    }
    expect(problems).toEqual([]);
  });

  it('prints its figures', () => {
    console.log(`security tenancy: idRoutes=${idRoutes.length} attempts=${figures.attempts} leaks=${figures.leaks} wrongStatus=${figures.wrongStatus}`);
    recordFigures(inject('figuresFile'), { tenancyAttempts: figures.attempts, leaks: figures.leaks });
    expect(figures.leaks).toBe(0);
  });
});
