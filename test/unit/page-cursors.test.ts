import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoItemStore } from '../../core/adapters/dynamo-item-store';
import { DynamoJobStore } from '../../core/adapters/dynamo-job-store';
import { DynamoScheduleStore } from '../../core/adapters/dynamo-schedule-store';
import { PageCursors } from '../../core/adapters/dynamo-paging';
import { secretsManagerPageCursorKey } from '../../core/adapters/page-cursor-key';
import { InputInvalid, ServiceUnavailable } from '../../core/errors';

const dynamo = mockClient(DynamoDBClient);
const client = new DynamoDBClient({ region: 'eu-west-1' });
const cursors = new PageCursors(async () => Buffer.from('k'.repeat(48)));
const jobs = new DynamoJobStore(client, 'jobs', undefined, cursors);

/** A last key of alice's listing, as DynamoDB returns it. */
const aliceKey = { jobId: 'job-2', owner: 'alice', createdKey: '2024-05-01T10:00:00.000Z#job-2' };

beforeEach(() => {
  dynamo.reset();
  dynamo.on(QueryCommand).resolves(pageEndingAt(aliceKey));
});

/** One row and the key after it (a page with no rows and a key would be read on and on). */
function pageEndingAt(key: Record<string, unknown>) {
  return { Items: [marshall({ ...key, inputJson: '{}' })], LastEvaluatedKey: marshall(key) };
}

async function aliceToken(): Promise<string> {
  const page = await jobs.list({ owner: 'alice', limit: 1 });
  return page.nextToken!;
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected nextToken to be refused'),
    (error: unknown) => error,
  );
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('signed page cursors', () => {
  it('hands back exactly the key DynamoDB returned, for the listing that issued it', async () => {
    const token = await aliceToken();
    dynamo.resetHistory();

    await jobs.list({ owner: 'alice', limit: 1, nextToken: token });

    expect(dynamo.commandCalls(QueryCommand)[0]!.args[0].input.ExclusiveStartKey).toEqual(marshall(aliceKey));
  });

  it('keeps the key readable only as an opaque token of three parts', async () => {
    expect(await aliceToken()).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  });

  describe('refuses, before DynamoDB sees it, a token', () => {
    const cases: Array<[string, (token: string) => string | Promise<string>]> = [
      ['of another owner (the listing is part of the MAC)', async (token) => token],
      ['with one character of its MAC changed', (token) => token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')],
      ['with its key rewritten to another owner, MAC kept', (token) => `v1.${b64({ ...aliceKey, owner: 'bob' })}.${token.split('.')[2]}`],
      ['in the old unsigned format, right partition', () => b64({ ...aliceKey, owner: 'bob' })],
      ['made up with other attribute names', () => `v1.${b64({ jobId: 'x', owner: 'bob', other: 'y' })}.${'A'.repeat(43)}`],
      ['holding NUL and lone surrogates', () => `v1.${b64({ jobId: '\u0000', owner: 'bob', createdKey: '\ud800' })}.${'A'.repeat(43)}`],
      ['signed with another key', async () => new DynamoJobStore(client, 'jobs', undefined, new PageCursors(async () => Buffer.from('x'.repeat(48)))).list({ owner: 'bob', limit: 1 }).then((page) => page.nextToken!)],
      ['of another table', async () => new DynamoJobStore(client, 'other-jobs', undefined, cursors).list({ owner: 'bob', limit: 1 }).then((page) => page.nextToken!)],
      ['of the admin listing', async () => jobs.list({ limit: 1 }).then((page) => page.nextToken!)],
    ];

    it.each(cases)('%s', async (_label, craft) => {
      // Every token below is presented to bob's listing.
      const token = await craft(await aliceToken());
      dynamo.resetHistory();

      const error = await refusal(jobs.list({ owner: 'bob', limit: 1, nextToken: token }));

      expect(error).toBeInstanceOf(InputInvalid);
      expect((error as InputInvalid).message).toBe('nextToken is invalid');
      expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
    });
  });

  it('refuses every arbitrary string as 400, never another error (2,000 generated tokens, seeded)', async () => {
    const outcomes = { refused: 0, other: 0 };
    const token = await aliceToken();
    const [, payload, mac] = token.split('.') as [string, string, string];
    const near = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: 'grapheme', maxLength: 100 }).map((text) => `v1.${Buffer.from(text).toString('base64url')}.${mac}`),
      fc.base64String({ maxLength: 200 }).map((text) => `v1.${payload}${text.replace(/[+/=]/g, '')}.${mac}`),
      fc.json().map((text) => `v1.${Buffer.from(text).toString('base64url')}.${mac}`),
    );
    await fc.assert(
      fc.asyncProperty(near, async (candidate) => {
        // An empty nextToken is no token (the query schema refuses it before the store).
        fc.pre(candidate !== token && candidate !== '');
        const error = await refusal(jobs.list({ owner: 'alice', limit: 1, nextToken: candidate }));
        outcomes[error instanceof InputInvalid ? 'refused' : 'other']++;
        return error instanceof InputInvalid;
      }),
      { seed: 8, numRuns: 2000 },
    );
    console.log(`page cursors: generated=${outcomes.refused + outcomes.other} refused=${outcomes.refused} otherErrors=${outcomes.other}`);
    expect(dynamo.commandCalls(QueryCommand).filter((call) => call.args[0].input.ExclusiveStartKey)).toHaveLength(0);
  });

  it("binds an items cursor to its job, and a schedules cursor to its owner", async () => {
    dynamo.on(QueryCommand).resolves(pageEndingAt({ jobId: 'job-a', itemKey: '100200300', position: 3 }));
    const items = new DynamoItemStore(client, 'items', cursors);
    const itemToken = (await items.list('job-a', { limit: 1 })).nextToken!;
    await expect(items.list('job-a', { limit: 1, nextToken: itemToken })).resolves.toBeDefined();
    await expect(items.list('job-b', { limit: 1, nextToken: itemToken })).rejects.toThrow('nextToken is invalid');

    dynamo.on(QueryCommand).resolves(pageEndingAt({ scheduleId: 's-1', owner: 'alice', createdKey: 'x#s-1' }));
    const schedules = new DynamoScheduleStore(client, 'schedules', cursors);
    const scheduleToken = (await schedules.list({ owner: 'alice', limit: 1 })).nextToken!;
    await expect(schedules.list({ owner: 'alice', limit: 1, nextToken: scheduleToken })).resolves.toBeDefined();
    await expect(schedules.list({ owner: 'bob', limit: 1, nextToken: scheduleToken })).rejects.toThrow('nextToken is invalid');
    // A jobs cursor is no schedules cursor, even for the same owner.
    await expect(schedules.list({ owner: 'alice', limit: 1, nextToken: await aliceTokenFrom() })).rejects.toThrow('nextToken is invalid');
  });
});

async function aliceTokenFrom(): Promise<string> {
  dynamo.on(QueryCommand).resolves(pageEndingAt(aliceKey));
  return aliceToken();
}

describe('the cursor key in Secrets Manager', () => {
  const secrets = mockClient(SecretsManagerClient);
  const secretsClient = new SecretsManagerClient({ region: 'eu-west-1' });
  beforeEach(() => secrets.reset());

  it('is read once per process and reused', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ key: 'z'.repeat(64) }) });
    const key = secretsManagerPageCursorKey(secretsClient, 'arn:cursor-key');

    expect(Buffer.from(await key()).toString()).toBe('z'.repeat(64));
    await key();
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(secrets.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: 'arn:cursor-key' });
  });

  it('answers 503 while the secret cannot be read, and reads it again on the next request', async () => {
    secrets.on(GetSecretValueCommand).rejectsOnce(new Error('throttled')).resolves({ SecretString: JSON.stringify({ key: 'z'.repeat(64) }) });
    const key = secretsManagerPageCursorKey(secretsClient, 'arn:cursor-key');

    await expect(key()).rejects.toBeInstanceOf(ServiceUnavailable);
    await expect(key()).resolves.toBeDefined();
  });

  it('refuses a secret that holds no usable key', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ key: 'short' }) });
    await expect(secretsManagerPageCursorKey(secretsClient, 'arn:cursor-key')()).rejects.toBeInstanceOf(ServiceUnavailable);
  });
});
