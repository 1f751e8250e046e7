import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { API_ROUTES, type ApiRoute } from '../../functions/api/routes';
import { LocalClient } from '../support/local-client';
import { b64url, inBatches, jwtPayload, recordFigures, send, shapeProblem, type RawRequest, type RawResponse } from './support/api';

/**
 * Generated requests over every route of the route table (paths, ids, query parameters, bodies,
 * headers, content types), seeded so that a failure replays: 0 answers >= 500, every error in
 * the documented shape, nothing of another tenant's in any answer, and the stack healthy after.
 */
const SEED = 20260801;
const REQUESTS = 2000;
const CONCURRENCY = 6;

const outputs = inject('outputs');
const client = new LocalClient(outputs);
const tokens = { fuzzer: '', admin: '' };
const known = { ownJob: '', ownSchedule: '', victimJob: '', victimSchedule: '', victimSecret: '', nextToken: '', fuzzerSub: '' };
let victimSecrets: string[] = [];

beforeAll(async () => {
  tokens.fuzzer = await client.signUpAndIn('fuzzer@roboport.local');
  tokens.admin = await client.signInSeeded('admins');
  const victim = await client.signUpAndIn('fuzz-victim@roboport.local');
  const job = (token: string) => client.api('POST', '/jobs', { token, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` } } });
  const schedule = (token: string) =>
    client.api('POST', '/schedules', { token, body: { name: 'fuzz', robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` }, cron: 'cron(0 3 1 1 ? *)', timezone: 'UTC' } });
  known.ownJob = (await job(tokens.fuzzer)).body.jobId;
  await job(tokens.fuzzer);
  known.ownSchedule = (await schedule(tokens.fuzzer)).body.scheduleId;
  known.victimJob = (await job(victim)).body.jobId;
  known.victimSchedule = (await schedule(victim)).body.scheduleId;
  known.victimSecret = `victim-${Date.now().toString(36)}`;
  expect((await client.api('PUT', `/secrets/${known.victimSecret}`, { token: victim, body: { username: 'v', password: 'Victim-Passw0rd-77', hosts: ['portal.example.com'] } })).status).toBe(201);
  known.nextToken = (await client.api('GET', '/jobs?limit=1', { token: tokens.fuzzer })).body.nextToken;
  known.fuzzerSub = String(jwtPayload(tokens.fuzzer).sub);
  // What the fuzzer never sends, so cannot have named anything of its own after: any sight of it is a leak.
  // (The victim ids above are sent, and may come back legitimately, e.g. as the name of the fuzzer's own credential.)
  const hidden = { job: (await job(victim)).body.jobId as string, schedule: (await schedule(victim)).body.scheduleId as string };
  victimSecrets = [hidden.job, hidden.schedule, String(jwtPayload(victim).sub), 'Victim-Passw0rd-77'];
  expect(Object.values(known).every(Boolean)).toBe(true);
});

/** Percent-encodes what a request line cannot carry, but leaves `%` alone: malformed escapes stay malformed. */
const raw = (text: string) =>
  [...Buffer.from(text, 'utf8')].map((byte) => (/[A-Za-z0-9\-._~%!$&'()*+,;=:@]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

const MALFORMED = ['%ZZ', '%', '%2', '%C0%AF', '%E0%80%AF', '%ED%A0%80', '%F8%88%80%80%80', '%FF', '%00', '%0A', '%2F', '%2e%2e', '%25', '%u0041', '%EF%BF%BF', '%C3'];
const HOSTILE = ["' OR 1=1 --", '${jndi:ldap://x/a}', '<script>alert(1)</script>', '__proto__', 'constructor', '{{7*7}}', '../../etc/passwd', 'null', '0', '-1', '1e309', ' '];

function segmentArb(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(known.ownJob, known.ownSchedule, known.victimJob, known.victimSchedule, known.victimSecret, 'acme-portal') },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 3, arbitrary: fc.constantFrom(...MALFORMED).chain((bad) => fc.tuple(fc.constant(bad), fc.string({ maxLength: 8 })).map(([b, s]) => `${raw(s)}${b}`)) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map(raw) },
    { weight: 1, arbitrary: fc.integer({ min: 257, max: 4000 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom(...HOSTILE).map(raw) },
    { weight: 1, arbitrary: fc.constantFrom('.', '..') },
  );
}

function pathArb(route: ApiRoute): fc.Arbitrary<string> {
  const params = [...route.path.matchAll(/\{(\w+)\}/g)].length;
  const tail = fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/', '/x', '//', '/..', '%2F') });
  return fc.tuple(fc.array(segmentArb(), { minLength: params, maxLength: params }), tail).map(([segments, tail]) => {
    let i = 0;
    return `${route.path.replace(/\{\w+\}/g, () => segments[i++]!)}${tail}`;
  });
}

function cursorArb(): fc.Arbitrary<string> {
  const mac = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
  const key = fc.record(
    { jobId: fc.oneof(fc.uuid(), fc.string({ unit: 'binary' })), owner: fc.constantFrom(known.fuzzerSub, 'someone-else', '\u0000'), createdKey: fc.string({ unit: 'binary' }), other: fc.jsonValue() },
    { requiredKeys: [] },
  );
  return fc.oneof(
    fc.constant(known.nextToken),
    fc.nat({ max: known.nextToken.length - 1 }).map((at) => `${known.nextToken.slice(0, at)}${known.nextToken[at] === 'A' ? 'B' : 'A'}${known.nextToken.slice(at + 1)}`),
    key.map((value) => b64url(value)),
    fc.tuple(key, mac).map(([value, signature]) => `v1.${b64url(value)}.${signature}`),
    fc.string({ unit: 'binary', maxLength: 300 }).map(raw),
    fc.integer({ min: 2049, max: 6000 }).map((n) => 'A'.repeat(n)),
  );
}

/** Built once the known ids exist (after beforeAll), as are the arbitraries below that name them. */
const queryArb = (): fc.Arbitrary<string> =>
  fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 3, arbitrary: queryPairsArb() });

const queryPairsArb = (): fc.Arbitrary<string> =>
  fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'nextToken', 'status', 'dryRun', 'scope', 'foo', '__proto__', 'limit[]', '', '%ZZ'),
      fc.oneof(
        fc.constantFrom('0', '1', '20', '100', '101', '-1', '1.5', '1e2', 'NaN', 'true', 'false', 'QUEUED', 'RUNNING', 'FAILED', 'bogus', '', 'shared', 'own'),
        fc.constantFrom(...MALFORMED),
        cursorArb().map(raw),
        fc.string({ maxLength: 20 }).map(raw),
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([key, value]) => `${key}=${value}`).join('&')}` : ''));

const urlArb = fc.oneof(
  fc.webUrl(),
  fc.constantFrom(`${outputs.SandboxUrl}/`, 'http://169.254.169.254/latest/meta-data/', 'http://127.0.0.1:1/', 'file:///etc/passwd', 'javascript:alert(1)', 'http://[::1]/', 'http://0x7f000001/', ''),
  fc.string(),
);
const submissionArb = () =>
  fc.record(
  {
    robot: fc.oneof(fc.constantFrom('web-snapshot', 'freight-pod-download', '', '__proto__'), fc.string()),
    input: fc.oneof(
      fc.record({ url: urlArb, formats: fc.array(fc.constantFrom('pdf', 'png', 'gif', '')) }, { requiredKeys: [] }),
      fc.record({ portalUrl: urlArb, credentialsSecret: fc.oneof(fc.constantFrom(outputs.PortalSecretName, 'shared/freight-portal', 'acme-portal', known.victimSecret), fc.string()), invoices: fc.array(fc.oneof(fc.stringMatching(/^\d{6,12}$/), fc.string())) }, { requiredKeys: [] }),
      fc.jsonValue(),
    ),
    callbackUrl: urlArb,
    timeoutSeconds: fc.oneof(fc.integer(), fc.double(), fc.string()),
    name: fc.string(),
    cron: fc.oneof(fc.constantFrom('cron(0 3 1 1 ? *)', 'cron(* * * * ? *)', 'rate(0 minutes)', 'cron()', 'rate(1 second)'), fc.string()),
    timezone: fc.oneof(fc.constantFrom('UTC', 'Europe/Lisbon', 'Mars/Olympus'), fc.string()),
    username: fc.string(),
    password: fc.string(),
    hosts: fc.array(fc.oneof(fc.domain(), fc.string())),
  },
  { requiredKeys: [] },
);

/** A multipart body with its boundary (sometimes a different one in the header), possibly cut anywhere. */
const multipartArb = fc
  .record({
    parts: fc.array(
      fc.record({
        name: fc.constantFrom('robot', 'input', 'column', 'file', 'file', 'x', ''),
        filename: fc.option(fc.constantFrom('nf.csv', 'nf.xlsx', '../../x', 'a"b.csv', ''), { nil: undefined }),
        content: fc.oneof(fc.constantFrom('web-snapshot', 'freight-pod-download', '{}', 'NF\r\n100200300\r\n', 'PK\u0003\u0004garbage'), fc.json(), fc.string({ unit: 'binary', maxLength: 300 })),
      }),
      { maxLength: 5 },
    ),
    cut: fc.option(fc.nat(), { nil: undefined }),
    headerBoundary: fc.constantFrom('b0undary', 'b0undary', 'b0undary', 'other', ''),
  })
  .map(({ parts, cut, headerBoundary }) => {
    const body = Buffer.from(
      `${parts
        .map((part) => `--b0undary\r\nContent-Disposition: form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}\r\n\r\n${part.content}\r\n`)
        .join('')}--b0undary--\r\n`,
    );
    return { contentType: `multipart/form-data${headerBoundary ? `; boundary=${headerBoundary}` : ''}`, body: cut === undefined ? body : body.subarray(0, cut % (body.length + 1)) };
  });

/** What each route takes when the body is right, to be bent one field at a time. */
const validBody = (route: ApiRoute): Record<string, unknown> | undefined =>
  route.path === '/jobs' && route.method === 'POST'
    ? { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` } }
    : route.path === '/schedules' && route.method === 'POST'
      ? { name: 'fuzz', robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` }, cron: 'cron(0 3 1 1 ? *)', timezone: 'UTC' }
      : route.method === 'PUT'
        ? { username: 'u', password: 'Fuzz-Passw0rd', hosts: ['portal.example.com'] }
        : undefined;

/** The route's valid body with up to two fields replaced, dropped or added from the generated submission. */
const nearValidArb = (route: ApiRoute) =>
  fc.tuple(
    submissionArb(),
    fc.oneof(fc.constant([]), fc.subarray(['robot', 'input', 'callbackUrl', 'timeoutSeconds', 'name', 'cron', 'timezone', 'username', 'password', 'hosts'], { minLength: 1, maxLength: 2 })),
    fc.boolean(),
  ).map(([generated, keys, drop]) => {
    const body: Record<string, unknown> = { ...validBody(route) };
    for (const key of keys) {
      if (drop) delete body[key];
      else if (key in generated) body[key] = generated[key as keyof typeof generated];
    }
    return { contentType: 'application/json', body: JSON.stringify(body) };
  });

/** A spreadsheet submission as the console sends it: a CSV column of invoices, some bad, the body sometimes cut. */
const sheetUploadArb = () =>
  fc.tuple(fc.array(fc.oneof(fc.stringMatching(/^\d{6,12}$/), fc.string({ maxLength: 15 })), { maxLength: 30 }), fc.constantFrom(';', ',', '\t'), fc.option(fc.nat(), { nil: undefined })).map(([cells, delimiter, cut]) => {
    const input = JSON.stringify({ portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName });
    const csv = ['NF', ...cells].map((cell) => `${cell}${delimiter}x`).join('\r\n');
    const parts: Array<[string, string, string?]> = [['robot', 'freight-pod-download'], ['input', input], ['file', csv, 'nf.csv']];
    const body = Buffer.from(`${parts.map(([name, value, filename]) => `--b0undary\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n\r\n${value}\r\n`).join('')}--b0undary--\r\n`);
    return { contentType: 'multipart/form-data; boundary=b0undary', body: cut === undefined || cut % 3 !== 0 ? body : body.subarray(0, cut % body.length) };
  });

const bodyArb = (route: ApiRoute): fc.Arbitrary<{ contentType?: string; body?: Uint8Array | string }> =>
  fc.oneof(
    { weight: validBody(route) ? 6 : 0, arbitrary: nearValidArb(route) },
    { weight: route.path === '/jobs' && route.method === 'POST' ? 3 : 0, arbitrary: sheetUploadArb() },
  { weight: 2, arbitrary: fc.constant({}) },
  { weight: 4, arbitrary: submissionArb().map((value) => ({ contentType: 'application/json', body: JSON.stringify(value) })) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map((body) => ({ contentType: 'application/json', body })) },
  { weight: 3, arbitrary: multipartArb },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes) => ({ body: Buffer.from(bytes) })) },
  { weight: 1, arbitrary: fc.constantFrom('{', '[', '"', 'null', '1', '{"robot":', '\u0000', '\ufeff{}', '{"__proto__":{"isAdmin":true}}').map((body) => ({ body })) },
);

const contentTypeArb = fc.oneof(
  fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'multipart/form-data', 'multipart/form-data; boundary=', 'text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'APPLICATION/JSON'),
  fc.stringMatching(/^[ -~]{0,80}$/),
);

const authArb = fc.oneof(
  { weight: 17, arbitrary: fc.constant('fuzzer') },
  { weight: 1, arbitrary: fc.constant('admin') },
  { weight: 1, arbitrary: fc.constant('none') },
  { weight: 1, arbitrary: fc.stringMatching(/^[ -~]{0,200}$/).map((text) => `garbage:${text}`) },
);

interface Generated extends RawRequest {
  route: string;
  auth: string;
}

function requestArb(): fc.Arbitrary<Generated> {
  return fc.constantFrom(...API_ROUTES).chain((route) =>
    fc
      .record({
        method: fc.oneof({ weight: 9, arbitrary: fc.constant<string>(route.method) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') }),
        path: pathArb(route),
        query: queryArb(),
        body: bodyArb(route),
        contentType: contentTypeArb,
        overrideContentType: fc.nat({ max: 4 }).map((n) => n === 0),
        idempotencyKey: fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/) },
          { weight: 1, arbitrary: fc.stringMatching(/^[ -~]{0,300}$/) },
        ),
        auth: authArb,
      })
      .map(({ method, path, query, body, contentType, overrideContentType, idempotencyKey, auth }) => {
        const type = overrideContentType || body.contentType === undefined ? contentType : body.contentType;
        const authorization = auth === 'fuzzer' ? `Bearer ${tokens.fuzzer}` : auth === 'admin' ? `Bearer ${tokens.admin}` : auth === 'none' ? undefined : auth.slice('garbage:'.length);
        const headers: Record<string, string> = {
          ...(authorization === undefined ? {} : { authorization }),
          ...(type === undefined ? {} : { 'content-type': type }),
          ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
        };
        return { route: `${route.method} ${route.path}`, auth, method, target: `${path}${query}`, headers, ...(body.body === undefined ? {} : { body: body.body }) };
      }),
  );
}

function problemsOf(request: Generated, response: RawResponse): string[] {
  const problems: string[] = [];
  if (response.status >= 500 || response.status < 100) problems.push(`status ${response.status}`);
  const shape = shapeProblem(response);
  if (shape) problems.push(`shape: ${shape}`);
  if (response.headers['x-content-type-options'] !== 'nosniff') problems.push('no x-content-type-options: nosniff');
  if (response.status === 401 && response.headers['cache-control'] !== 'no-store') problems.push('401 without cache-control: no-store');
  if (request.auth !== 'admin') {
    const leaked = victimSecrets.filter((secret) => response.text.includes(secret));
    if (leaked.length) problems.push(`leak: ${leaked.join(', ')}`);
  }
  return problems;
}

describe('generated requests over every route', () => {
  it(`answers ${REQUESTS} requests (seed ${SEED}) with no 5xx, every error in the documented shape, and no leak`, async () => {
    const requests = fc.sample(requestArb(), { seed: SEED, numRuns: REQUESTS });
    const started = performance.now();
    const results = await inBatches(
      requests.map((request) => async () => {
        try {
          const response = await send(outputs.ApiUrl, request);
          return { request, status: response.status, problems: problemsOf(request, response) };
        } catch (error) {
          return { request, status: 0, problems: [`no answer: ${(error as Error).message}`] };
        }
      }),
      CONCURRENCY,
    );
    const seconds = (performance.now() - started) / 1000;

    const count = (predicate: (problem: string) => boolean) => results.filter((result) => result.problems.some(predicate)).length;
    const figures = {
      requests: results.length,
      routes: new Set(results.map((result) => result.request.route)).size,
      '5xx': results.filter((result) => result.status >= 500).length,
      noAnswer: results.filter((result) => result.status === 0).length,
      shapeErrors: count((problem) => problem.startsWith('shape')),
      leaks: count((problem) => problem.startsWith('leak')),
    };
    const byStatus = Object.entries(results.reduce<Record<number, number>>((acc, { status }) => ({ ...acc, [status]: (acc[status] ?? 0) + 1 }), {}))
      .map(([status, n]) => `${status}:${n}`)
      .join(' ');
    const perRoute = new Map<string, Record<number, number>>();
    for (const { request, status } of results) {
      const counts = perRoute.get(request.route) ?? {};
      counts[status] = (counts[status] ?? 0) + 1;
      perRoute.set(request.route, counts);
    }
    for (const [route, counts] of perRoute) console.log(`security fuzz: ${route} ${Object.entries(counts).map(([status, n]) => `${status}:${n}`).join(' ')}`);
    console.log(`security fuzz: ${Object.entries(figures).map(([name, value]) => `${name}=${value}`).join(' ')} seconds=${seconds.toFixed(1)} byStatus ${byStatus}`);
    recordFigures(inject('figuresFile'), { requests: figures.requests, '5xx': figures['5xx'] + figures.noAnswer, shapeErrors: figures.shapeErrors, leaks: figures.leaks });

    const failures = results.filter((result) => result.problems.length).slice(0, 10);
    expect(failures.map(({ request, problems }) => ({ route: request.route, method: request.method, target: request.target.slice(0, 200), headers: request.headers, body: String(request.body ?? '').slice(0, 200), problems }))).toEqual([]);
    expect(figures.routes).toBe(API_ROUTES.length);
  });

  it('leaves the stack healthy: /health answers and a real job is accepted and readable', async () => {
    expect((await send(outputs.ApiUrl, { method: 'GET', target: '/health' })).status).toBe(200);
    const submitted = await client.api('POST', '/jobs', { token: tokens.fuzzer, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` } } });
    expect(submitted.status).toBe(202);
    const read = await client.api('GET', `/jobs/${submitted.body.jobId}`, { token: tokens.fuzzer });
    expect(read.body).toMatchObject({ jobId: submitted.body.jobId, status: 'QUEUED' });
    const listed = await client.api('GET', '/jobs?limit=100', { token: tokens.fuzzer });
    expect(listed.body.jobs.map((job: { jobId: string }) => job.jobId)).toContain(submitted.body.jobId);
  });
});
