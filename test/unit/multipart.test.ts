import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HOSTS_TAG } from '../../core/adapters/secrets';
import { InputInvalid, PayloadTooLarge } from '../../core/errors';
import { multipartFormOf } from '../../functions/shared/multipart';
import { csvOf, xlsxOf } from '../fixtures/sheets';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const dynamo = mockClient(DynamoDBClient);
const sfn = mockClient(SFNClient);
const secrets = mockClient(SecretsManagerClient);
let submitJob: Handler;

beforeAll(async () => {
  Object.assign(process.env, {
    JOBS_TABLE_NAME: 'jobs',
    STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:jobs',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    ROBOT_SECRETS_PREFIX: 'roboport/test/robots/',
  });
  // Read at import, as a Lambda does at cold start.
  submitJob = ((await import('../../functions/api/submit-job')) as { handler: Handler }).handler;
});

beforeEach(() => {
  dynamo.reset();
  sfn.reset();
  secrets.reset();
  // The caller's credentials "acme-portal", bound to the portal the uploads name.
  secrets.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => ({
    Name: input.SecretId,
    Tags: [{ Key: HOSTS_TAG, Value: 'portal.carrier.example' }],
    LastChangedDate: new Date('2024-01-01T00:00:00Z'),
  }));
  dynamo.on(PutItemCommand).resolves({});
  dynamo.on(UpdateItemCommand).resolves({});
  sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `arn:exec:${input.name}` }));
});

interface Upload {
  /** A list sends the field once per value. */
  fields?: Record<string, string | string[]>;
  file?: { bytes: Uint8Array; filename: string };
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

/** The event API Gateway hands over for a multipart upload: a binary media type, so base64. */
async function uploadEvent({ fields = {}, file, headers = {}, query }: Upload): Promise<APIGatewayProxyEvent> {
  const form = new FormData();
  for (const [name, values] of Object.entries(fields)) for (const value of [values].flat()) form.append(name, value);
  if (file) form.append('file', new Blob([new Uint8Array(file.bytes)]), file.filename);
  const request = new Request('http://localhost/jobs', { method: 'POST', body: form });
  const body = Buffer.from(await request.arrayBuffer());
  return {
    httpMethod: 'POST',
    path: '/jobs',
    headers: { 'Content-Type': request.headers.get('content-type')!, ...headers },
    body: body.toString('base64'),
    isBase64Encoded: true,
    queryStringParameters: query ?? null,
    requestContext: { authorizer: { claims: { sub: 'alice' } } },
  } as unknown as APIGatewayProxyEvent;
}

async function call(event: APIGatewayProxyEvent) {
  const result = await submitJob(event, {} as Context);
  return { status: result.statusCode, body: JSON.parse(result.body), headers: result.headers ?? {} };
}

const LIMITS = { maxFileBytes: 1024, maxFiles: 1, maxFields: 4, maxFieldBytes: 64 };
const portalInput = JSON.stringify({ portalUrl: 'https://portal.carrier.example/', credentialsSecret: 'acme-portal' });
const freightUpload = (file: { bytes: Uint8Array; filename: string }, extra: Partial<Upload> = {}): Promise<APIGatewayProxyEvent> =>
  uploadEvent({ fields: { robot: 'freight-pod-download', input: portalInput }, file, ...extra });

describe('multipartFormOf', () => {
  it('returns the text fields and the file bytes unchanged', async () => {
    const bytes = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0xff, 0x0d, 0x0a]);
    const form = await multipartFormOf(await uploadEvent({ fields: { robot: 'r', input: '{"a":"é"}' }, file: { bytes, filename: 'notas fiscais ç.xlsx' } }), LIMITS);
    expect(form.fields).toEqual({ robot: 'r', input: '{"a":"é"}' });
    expect(form.files).toEqual([{ field: 'file', filename: 'notas fiscais ç.xlsx', contentType: 'application/octet-stream', bytes }]);
  });

  it.each([
    ['a file over the limit', { file: { bytes: Buffer.alloc(1025), filename: 'big.csv' } }, PayloadTooLarge, /larger than 1024 bytes/],
    ['a field over the limit', { fields: { input: 'x'.repeat(65) } }, InputInvalid, /"input" is longer than 64 bytes/],
    ['a field sent twice', { fields: { robot: ['a', 'b'] } }, InputInvalid, /"robot" is sent more than once/],
  ])('refuses %s', async (_label, upload, type, message) => {
    const event = await uploadEvent(upload);
    const error = await multipartFormOf(event, LIMITS).catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
  });

  describe('a truncated or malformed body is a 400, never a crash', () => {
    /** The same upload, its base64 body replaced by `cut(bytes)`. */
    const mangled = async (cut: (bytes: Buffer) => Buffer) => {
      const event = await uploadEvent({ fields: { robot: 'r' }, file: { bytes: Buffer.alloc(600, 0x41), filename: 'nf.csv' } });
      return { ...event, body: cut(Buffer.from(event.body!, 'base64')).toString('base64') };
    };
    const unheard: unknown[] = [];
    const onUncaught = (error: unknown) => unheard.push(error);
    beforeAll(() => process.on('uncaughtException', onUncaught));
    afterAll(() => process.off('uncaughtException', onUncaught));

    it.each([
      ['cut inside the file', (bytes: Buffer) => bytes.subarray(0, bytes.indexOf('AAAA') + 100)],
      ['cut inside a part header', (bytes: Buffer) => bytes.subarray(0, bytes.indexOf('filename=') + 4)],
      ['cut right after the first boundary', (bytes: Buffer) => bytes.subarray(0, bytes.indexOf('\r\n') + 2)],
      ['without its closing boundary', (bytes: Buffer) => bytes.subarray(0, bytes.lastIndexOf('--'))],
      ['of garbage after the boundary line', (bytes: Buffer) => Buffer.concat([bytes.subarray(0, bytes.indexOf('\r\n') + 2), Buffer.from([0xff, 0x00, 0xfe])])],
      ['empty', () => Buffer.alloc(0)],
    ])('refuses a body %s with 400 INPUT_INVALID', async (_label, cut) => {
      const error = (await multipartFormOf(await mangled(cut), LIMITS).catch((caught: unknown) => caught)) as Error;

      expect(error).toBeInstanceOf(InputInvalid);
      expect(error.message).toMatch(/not valid multipart\/form-data/);
      // Give a stray 'error' event the turn it would be thrown on.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unheard).toEqual([]);
    });

    it('answers a truncated upload to POST /jobs with 400 in the error shape', async () => {
      const res = await call(await mangled((bytes) => bytes.subarray(0, bytes.indexOf('AAAA') + 10)));

      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: { code: 'INPUT_INVALID', message: 'Body is not valid multipart/form-data', details: { reason: 'Unexpected end of form' } } });
    });
  });

  it('refuses a body without a boundary', async () => {
    const event = { headers: { 'content-type': 'multipart/form-data' }, body: 'x', isBase64Encoded: false } as unknown as APIGatewayProxyEvent;
    await expect(multipartFormOf(event, LIMITS)).rejects.toThrow(/not valid multipart\/form-data/);
  });
});

describe('POST /jobs with a spreadsheet', () => {
  const sheet = () => xlsxOf([['Cliente', 'Nota Fiscal'], ['ACME', '000123456'], ['ACME', 123456789012], ['ACME', '000123456'], ['ACME', null]]);

  it('previews the items on ?dryRun=true and writes nothing', async () => {
    const res = await call(await freightUpload({ bytes: await sheet(), filename: 'nf.xlsx' }, { query: { dryRun: 'true' } }));

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      robot: 'freight-pod-download',
      column: { header: 'Nota Fiscal', letter: 'B' },
      items: ['000123456', '123456789012'],
      count: 2,
      duplicatesDropped: 1,
      blanksDropped: 1,
      errors: [],
    });
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('queues the job with the column as the items, like a JSON submission', async () => {
    const res = await call(await freightUpload({ bytes: await sheet(), filename: 'nf.xlsx' }));

    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/jobs/${res.body.jobId}`);
    const put = dynamo.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(JSON.parse(put.Item!.inputJson!.S!)).toEqual({
      portalUrl: 'https://portal.carrier.example/',
      credentialsSecret: 'acme-portal',
      invoices: ['000123456', '123456789012'],
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('hashes the resulting submission for Idempotency-Key: an equal JSON body replays, not conflicts', async () => {
    const headers = { 'Idempotency-Key': 'upload-1' };
    await call(await freightUpload({ bytes: csvOf(['NF', '000123456', '123456789012']), filename: 'nf.csv' }, { headers }));
    const json = {
      ...JSON.parse(portalInput),
      invoices: ['000123456', '123456789012'],
    };
    const jsonEvent = await uploadEvent({ headers });
    Object.assign(jsonEvent, { headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ robot: 'freight-pod-download', input: json }), isBase64Encoded: false });
    await call(jsonEvent);

    const [fromSheet, fromJson] = dynamo.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item!);
    expect(fromSheet!.jobId).toEqual(fromJson!.jobId);
    expect(fromSheet!.requestHash).toEqual(fromJson!.requestHash);
  });

  it('refuses the whole sheet with 400 and every bad row numbered, creating nothing', async () => {
    const csv = csvOf(['NF;Cliente', '123456;a', 'abc def;b', '1.23457E+11;c', '"";d']);
    const res = await call(await freightUpload({ bytes: csv, filename: 'nf.csv' }));

    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INPUT_INVALID');
    expect(res.body.error.details.rows).toEqual([
      { row: 3, value: 'abc def', message: expect.any(String) },
      { row: 4, value: '1.23457E+11', message: expect.stringContaining('scientific notation') },
    ]);
    expect(res.body.error.details.fields).toEqual([{ field: 'file', message: '2 rows of the sheet are invalid' }]);
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it.each([
    ['a robot that takes no items', { robot: 'web-snapshot', input: '{}' }, 'robot'],
    ['input that is not a JSON object', { robot: 'freight-pod-download', input: '[1]' }, 'input'],
    ['items in input as well', { robot: 'freight-pod-download', input: JSON.stringify({ invoices: ['1'] }) }, 'input.invoices'],
    ['an unknown column', { robot: 'freight-pod-download', input: portalInput, column: 'Customer' }, 'column'],
  ])('answers 400 naming the field for %s', async (_label, fields, field) => {
    const res = await call(await uploadEvent({ fields, file: { bytes: csvOf(['NF', '123456']), filename: 'nf.csv' } }));
    expect(res.status).toBe(400);
    expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
  });

  it('answers 400 when the file is missing, and 415 for a file that is no sheet', async () => {
    const missing = await call(await uploadEvent({ fields: { robot: 'freight-pod-download', input: portalInput } }));
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.fields).toEqual([{ field: 'file', message: expect.stringContaining('required') }]);

    const pdf = await call(await freightUpload({ bytes: Buffer.from('%PDF-1.7\n\x00\x00'), filename: 'nf.csv' }));
    expect(pdf.status).toBe(415);
    expect(pdf.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses ?dryRun=true on a JSON submission rather than creating a job', async () => {
    const event = await uploadEvent({ query: { dryRun: 'true' } });
    Object.assign(event, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ robot: 'web-snapshot', input: { url: 'https://example.com/' } }), isBase64Encoded: false });
    const res = await call(event);
    expect(res.status).toBe(400);
    expect(res.body.error.details.fields).toEqual([{ field: 'dryRun', message: expect.any(String) }]);
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(0);
  });
});
