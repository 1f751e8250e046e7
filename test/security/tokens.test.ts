import { createHmac, createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { API_ROUTES } from '../../functions/api/routes';
import { LocalClient } from '../support/local-client';
import { b64url, foreignKey, inBatches, jwtPayload, recordFigures, send, shapeProblem, signJwt, type RawResponse } from './support/api';

const outputs = inject('outputs');
const client = new LocalClient(outputs);
let realToken: string;
let claims: Record<string, unknown>;

beforeAll(async () => {
  realToken = await client.signUpAndIn('token-tester@roboport.local');
  claims = jwtPayload(realToken);
});

const now = () => Math.floor(Date.now() / 1000);
const valid = () => ({ ...claims, iat: now(), exp: now() + 600 });
const publicPem = () => createPublicKey(createRequire(import.meta.url)('cognito-local/lib/keys/cognitoLocal.private.json').pem as string).export({ type: 'spki', format: 'pem' });

/** Every way the suite tries to get in without a valid ID token, as the Authorization header it sends (undefined: none). */
const attempts: Array<[string, () => string | undefined]> = [
  ['no Authorization header', () => undefined],
  ['a garbage bearer token', () => 'Bearer not.a.token'],
  ['the real token without "Bearer "', () => realToken],
  ['the real token under another scheme', () => `Basic ${realToken}`],
  ['a forged payload under the real signature', () => {
    const [header, , signature] = realToken.split('.');
    return `Bearer ${header}.${b64url({ ...claims, sub: 'someone-else', 'cognito:groups': ['admins'] })}.${signature}`;
  }],
  ['a token signed with another key', () => `Bearer ${signJwt(valid(), { key: foreignKey })}`],
  ['alg none', () => `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(valid())}.`],
  ['HS256 keyed with the public key', () => {
    const input = `${b64url({ alg: 'HS256', typ: 'JWT', kid: 'CognitoLocal' })}.${b64url(valid())}`;
    return `Bearer ${input}.${createHmac('sha256', publicPem()).update(input).digest('base64url')}`;
  }],
  ['an expired token', () => `Bearer ${signJwt({ ...claims, iat: now() - 7200, exp: now() - 3600 })}`],
  ['a token without exp', () => {
    const { exp: _exp, ...rest } = valid();
    return `Bearer ${signJwt(rest)}`;
  }],
  ['a token for another app client (aud)', () => `Bearer ${signJwt({ ...valid(), aud: 'another-client-id' })}`],
  ['a token of another issuer', () => `Bearer ${signJwt({ ...valid(), iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other' })}`],
  ['an access token instead of an ID token', () => `Bearer ${signJwt({ ...valid(), token_use: 'access' })}`],
  ['a token not valid yet', () => `Bearer ${signJwt({ ...valid(), nbf: now() + 3600 })}`],
];

const authorizedRoutes = API_ROUTES.filter((route) => route.authorized);
/** A request that names something of the path's shape: a well-formed id for every parameter. */
const targetOf = (path: string) => path.replace(/\{\w+\}/g, '00000000-0000-4000-8000-000000000000');

function unauthorizedProblem(response: RawResponse): string | undefined {
  if (response.status !== 401) return `status ${response.status}`;
  if (response.headers['cache-control'] !== 'no-store') return `cache-control ${String(response.headers['cache-control'])}`;
  if (response.headers['x-content-type-options'] !== 'nosniff') return `x-content-type-options ${String(response.headers['x-content-type-options'])}`;
  return shapeProblem(response) ?? (JSON.parse(response.text).error.code === 'UNAUTHORIZED' ? undefined : 'code is not UNAUTHORIZED');
}

describe('tokens the gateway must refuse', () => {
  it('accepts a token signed the way the suite forges them, so the refusals below are not vacuous', async () => {
    const res = await send(outputs.ApiUrl, { method: 'GET', target: '/jobs', headers: { authorization: `Bearer ${signJwt(valid())}` } });
    expect(res.status).toBe(200);
  });

  it(`answers 401, uncached and unsniffed, on every authorized route (${authorizedRoutes.length}) for each of ${attempts.length} bad tokens`, async () => {
    const tasks = attempts.flatMap(([label, header]) =>
      authorizedRoutes.map((route) => async () => {
        const authorization = header();
        const res = await send(outputs.ApiUrl, { method: route.method, target: targetOf(route.path), headers: authorization === undefined ? {} : { authorization } });
        return { label, route: `${route.method} ${route.path}`, problem: unauthorizedProblem(res) };
      }),
    );
    const results = await inBatches(tasks, 8);
    const failures = results.filter((result) => result.problem);

    console.log(`security tokens: cases=${attempts.length} routes=${authorizedRoutes.length} requests=${results.length} refused401=${results.length - failures.length} accepted=${failures.length}`);
    recordFigures(inject('figuresFile'), { tokenRequests: results.length, tokensAccepted: failures.length });
    expect(failures).toEqual([]);
  });

  it('never reads a group named "x,admins" as admins: the listing stays the caller’s own', async () => {
    const other = await client.signUpAndIn('token-other@roboport.local');
    const othersJob = await client.api('POST', '/jobs', { token: other, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/` } } });
    expect(othersJob.status).toBe(202);
    const admin = await client.signInSeeded('admins');
    const everyone = await client.api('GET', '/jobs?limit=100', { token: admin });
    expect(everyone.body.jobs.map((job: { jobId: string }) => job.jobId)).toContain(othersJob.body.jobId);

    for (const groups of [['x,admins'], ['[x', 'admins]'], ['x admins']]) {
      const token = signJwt({ ...valid(), 'cognito:groups': groups });
      const res = await send(outputs.ApiUrl, { method: 'GET', target: '/jobs?limit=100', headers: { authorization: `Bearer ${token}` } });
      expect(res.status, groups.join('|')).toBe(200);
      expect(JSON.parse(res.text).jobs.map((job: { jobId: string }) => job.jobId), groups.join('|')).not.toContain(othersJob.body.jobId);
    }
  });
});
