import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_JSON_BODY_BYTES, groupsOf } from '../../functions/shared/http';
import { makeJob } from '../support/memory-job-store';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

// Handlers (and functions/shared/http.ts) read their configuration at import, as a Lambda does at cold start.
vi.hoisted(() => {
  Object.assign(process.env, {
    JOBS_TABLE_NAME: 'jobs',
    ARTIFACTS_BUCKET_NAME: 'artifacts',
    STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:jobs',
    AWS_REGION: 'eu-west-1',
    CORS_ALLOWED_ORIGIN: 'https://console.example.com',
    ROBOT_SECRETS_PREFIX: 'roboport/test/robots/',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
});

const dynamo = mockClient(DynamoDBClient);
const sfn = mockClient(SFNClient);
const handlers: Record<string, Handler> = {};

beforeAll(async () => {
  for (const name of ['submit-job', 'get-job', 'cancel-job', 'list-robots', 'health']) {
    handlers[name] = ((await import(`../../functions/api/${name}.ts`)) as { handler: Handler }).handler;
  }
});

beforeEach(() => {
  dynamo.reset();
  sfn.reset();
});

function event(overrides: Partial<APIGatewayProxyEvent> & { sub?: string | null; groups?: string } = {}): APIGatewayProxyEvent {
  const { sub = 'alice', groups, ...rest } = overrides;
  return {
    httpMethod: 'GET',
    path: '/',
    headers: {},
    body: null,
    isBase64Encoded: false,
    pathParameters: null,
    queryStringParameters: null,
    requestContext: { authorizer: sub ? { claims: { sub, ...(groups ? { 'cognito:groups': groups } : {}) } } : undefined },
    ...rest,
  } as APIGatewayProxyEvent;
}

async function call(name: string, e: APIGatewayProxyEvent) {
  const result = await handlers[name]!(e, {} as Context);
  return { status: result.statusCode, body: JSON.parse(result.body || 'null'), headers: result.headers ?? {} };
}

const jsonPost = (body: string, headers: Record<string, string> = {}) =>
  event({ httpMethod: 'POST', path: '/jobs', headers: { 'Content-Type': 'application/json', ...headers }, body });

describe('POST /jobs', () => {
  it('answers 202 with the queued job, written conditionally, and starts the workflow by job id', async () => {
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `arn:exec:${input.name}` }));

    const res = await call('submit-job', jsonPost(JSON.stringify({ robot: 'web-snapshot', input: { url: 'https://example.com/' } })));

    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ robot: 'web-snapshot', status: 'QUEUED', attempts: 0, artifacts: [] });
    expect(res.headers.location).toBe(`/jobs/${res.body.jobId}`);
    // Only the console's origin may read responses from a browser.
    expect(res.headers['access-control-allow-origin']).toBe('https://console.example.com');
    const put = dynamo.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(put.ConditionExpression).toBe('attribute_not_exists(#id)');
    expect(put.Item?.owner).toEqual({ S: 'alice' });
    const start = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(start).toMatchObject({ name: res.body.jobId, input: JSON.stringify({ jobId: res.body.jobId }) });
  });

  it.each([
    ['malformed JSON', jsonPost('{"robot":'), 400, 'INPUT_INVALID'],
    ['another media type', event({ httpMethod: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['an oversized body', jsonPost(JSON.stringify({ robot: 'web-snapshot', input: { pad: 'x'.repeat(MAX_JSON_BODY_BYTES) } })), 413, 'PAYLOAD_TOO_LARGE'],
    ['no caller claims', event({ httpMethod: 'POST', sub: null }), 401, 'UNAUTHORIZED'],
  ])('answers %s with %i and the error shape', async (_label, e, status, code) => {
    const res = await call('submit-job', e);
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ code, message: expect.any(String) });
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it('names the invalid field of the robot input', async () => {
    const res = await call('submit-job', jsonPost(JSON.stringify({ robot: 'web-snapshot', input: { url: 'ftp://example.com/' } })));
    expect(res.status).toBe(400);
    expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain('input.url');
  });

  it('answers 409 when the Idempotency-Key was used with another body', async () => {
    const original = makeJob({ requestHash: 'different' });
    dynamo.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: 'exists', $metadata: {} }));
    dynamo.on(GetItemCommand).resolves({ Item: marshall({ ...original, inputJson: '{}' }, { removeUndefinedValues: true }) });

    const res = await call('submit-job', jsonPost(JSON.stringify({ robot: 'web-snapshot', input: { url: 'https://example.com/' } }), { 'Idempotency-Key': 'k1' }));

    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('hides internal failures behind a generic 500', async () => {
    dynamo.on(PutItemCommand).rejects(new Error('connection reset by 10.1.2.3'));
    const res = await call('submit-job', jsonPost(JSON.stringify({ robot: 'web-snapshot', input: { url: 'https://example.com/' } })));
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('10.1.2.3');
  });
});

describe('GET /jobs/{jobId} and cancel', () => {
  const stored = (overrides = {}) => ({ Item: marshall({ ...makeJob(overrides), inputJson: '{}' }, { removeUndefinedValues: true }) });

  it("answers 404 for another owner's job", async () => {
    dynamo.on(GetItemCommand).resolves(stored({ owner: 'bob' }));
    const res = await call('get-job', event({ pathParameters: { jobId: makeJob().jobId } }));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('JOB_NOT_FOUND');
  });

  it('lets an admin read any job', async () => {
    dynamo.on(GetItemCommand).resolves(stored({ owner: 'bob' }));
    const res = await call('get-job', event({ sub: 'root', groups: '[clients admins]', pathParameters: { jobId: makeJob().jobId } }));
    expect(res.status).toBe(200);
    expect(res.body.jobId).toBe(makeJob().jobId);
  });

  it('answers 409 when cancelling a finished job', async () => {
    dynamo.on(GetItemCommand).resolves(stored({ status: 'SUCCEEDED', owner: 'alice' }));
    const res = await call('cancel-job', event({ httpMethod: 'POST', pathParameters: { jobId: makeJob().jobId } }));
    expect(res.status).toBe(409);
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });
});

describe('the groups claim', () => {
  it.each([
    ['[clients admins]', ['clients', 'admins']],
    ['admins', ['admins']],
    ['[admins]', ['admins']],
    ['', []],
    ['x,admins', ['x,admins']],
    ['[x,admins clients]', ['x,admins', 'clients']],
    ['[x] [admins]', ['x]', '[admins']],
    ['admins clients', ['admins clients']],
  ])('reads %j as %j', (claim, groups) => {
    expect(groupsOf(claim)).toEqual(groups);
  });

  it('takes an array claim as it is, ignoring what is not a string', () => {
    expect(groupsOf(['a', 'admins', 7])).toEqual(['a', 'admins']);
    expect(groupsOf(undefined)).toEqual([]);
  });

  it.each(['x,admins', '[x,admins]', 'admins,x', '[clients,admins]', 'admins]'])('grants no admin rights for a group named like %j', async (claim) => {
    dynamo.on(GetItemCommand).resolves({ Item: marshall({ ...makeJob({ owner: 'bob' }), inputJson: '{}' }, { removeUndefinedValues: true }) });
    const res = await call('get-job', event({ sub: 'mallory', groups: claim, pathParameters: { jobId: makeJob().jobId } }));
    expect(res.status).toBe(404);
  });
});

describe('path parameters the gateway handed over raw', () => {
  it.each([
    ['a malformed escape', '%ZZ'],
    ['an overlong UTF-8 escape', '%C0%AF'],
    ['a lone surrogate', '\ud800'],
    ['a NUL', 'a\u0000b'],
    ['300 characters', 'x'.repeat(300)],
  ])('answers 400 in the error shape for %s, without reading the store', async (_label, jobId) => {
    const res = await call('get-job', event({ pathParameters: { jobId } }));

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'INPUT_INVALID', message: 'Path parameter jobId is malformed', details: { fields: [{ field: 'jobId', message: expect.any(String) }] } } });
    expect(dynamo.commandCalls(GetItemCommand)).toHaveLength(0);
  });
});

describe('GET /robots and /health', () => {
  it('describes web-snapshot with its input JSON Schema', async () => {
    const res = await call('list-robots', event());
    const robot = res.body.robots.find((r: { name: string }) => r.name === 'web-snapshot');
    expect(robot.inputSchema).toMatchObject({ type: 'object', properties: { url: expect.any(Object), formats: expect.any(Object) } });
    expect(robot.inputSchema.required).toContain('url');
  });

  it('serves health without a caller', async () => {
    expect((await call('health', event({ sub: null }))).status).toBe(200);
  });
});
