import { ROBOT_QUEUE_MAX_RECEIVES } from '../../core/delivery';
import { createSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { JOBS_TABLE } from '../../core/table-schema';
import { ensureJobsTable, startLocalDynamoDb } from '../../local/emulators/dynamodb';
import { ensureRobotQueue, startLocalSqs } from '../../local/emulators/sqs';
import { createLocalJwtVerifier, ensureUserPool, startLocalCognito, type LocalUser } from '../../local/emulators/cognito';
import { pollUntil } from '../../local/emulators/poll';

const clientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'roboport-emulators-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('dynalite', () => {
  it('creates the jobs table idempotently and enforces conditional puts', async () => {
    const dynamodb = await startLocalDynamoDb();
    const client = new DynamoDBClient(clientConfig(dynamodb.endpoint));
    try {
      await ensureJobsTable(client, 'jobs');
      await ensureJobsTable(client, 'jobs');
      const job = { jobId: { S: 'job-1' }, owner: { S: 'alice' }, entity: { S: 'JOB' }, createdKey: { S: '2026-01-01#job-1' } };
      const putIfAbsent = new PutItemCommand({ TableName: 'jobs', Item: job, ConditionExpression: 'attribute_not_exists(jobId)' });
      await client.send(putIfAbsent);
      await expect(client.send(putIfAbsent)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
      const { byOwnerIndex } = JOBS_TABLE;
      const { Items } = await client.send(
        new QueryCommand({
          TableName: 'jobs',
          IndexName: byOwnerIndex.name,
          KeyConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': byOwnerIndex.partitionKey },
          ExpressionAttributeValues: { ':owner': { S: 'alice' } },
        }),
      );
      expect(Items?.map((item) => item.jobId?.S)).toEqual(['job-1']);
    } finally {
      client.destroy();
      await dynamodb.close();
    }
  });

  it('keeps tables and items across restarts with a data directory, reached through AWS_ENDPOINT_URL_DYNAMODB', async () => {
    const dataDir = tempDir();
    const first = await startLocalDynamoDb({ dataDir });
    const writer = new DynamoDBClient(clientConfig(first.endpoint));
    await ensureJobsTable(writer, 'jobs');
    await writer.send(new PutItemCommand({ TableName: 'jobs', Item: { jobId: { S: 'kept' } } }));
    writer.destroy();
    await first.close();

    const second = await startLocalDynamoDb({ dataDir });
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', second.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const reader = new DynamoDBClient({ credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      const { Item } = await reader.send(new GetItemCommand({ TableName: 'jobs', Key: { jobId: { S: 'kept' } } }));
      expect(Item?.jobId?.S).toBe('kept');
    } finally {
      vi.unstubAllEnvs();
      reader.destroy();
      await second.close();
    }
  });
});

describe('fauxqs (SQS)', () => {
  let emulator: Awaited<ReturnType<typeof startLocalSqs>>;
  let sqs: SQSClient;

  beforeAll(async () => {
    emulator = await startLocalSqs();
    sqs = new SQSClient(clientConfig(emulator.endpoint));
  });
  afterAll(async () => {
    sqs.destroy();
    await emulator.close();
  });

  it(`moves a message to the dead-letter queue after ${ROBOT_QUEUE_MAX_RECEIVES} receives`, async () => {
    const queue = await ensureRobotQueue(sqs, 'robot');
    expect(await ensureRobotQueue(sqs, 'robot')).toEqual(queue);
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: 'poison' }));
    // VisibilityTimeout 0: every receive makes the message visible again at once, as if the worker died.
    const receive = (queueUrl: string) =>
      sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 0, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    for (let count = 1; count <= ROBOT_QUEUE_MAX_RECEIVES; count++) {
      const { Messages = [] } = await receive(queue.queueUrl);
      expect(Messages[0]?.Attributes?.ApproximateReceiveCount).toBe(String(count));
    }
    expect((await receive(queue.queueUrl)).Messages ?? []).toEqual([]);
    const deadLetter = await pollUntil(async () => (await receive(queue.deadLetterQueueUrl)).Messages?.[0], {
      description: 'the message in the dead-letter queue',
    });
    expect(deadLetter.Body).toBe('poison');
  });

  it('serves queue URLs on 127.0.0.1, usable by a client configured only through AWS_ENDPOINT_URL_SQS', async () => {
    const { queueUrl } = await ensureRobotQueue(sqs, 'env-only');
    expect(new URL(queueUrl).origin).toBe(emulator.endpoint);
    vi.stubEnv('AWS_ENDPOINT_URL_SQS', emulator.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const envClient = new SQSClient({ credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      await envClient.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'hello' }));
      const { Messages = [] } = await envClient.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
      expect(Messages[0]?.Body).toBe('hello');
    } finally {
      vi.unstubAllEnvs();
      envClient.destroy();
    }
  });
});

describe('cognito-local', () => {
  const users: LocalUser[] = [
    { username: 'admin@roboport.local', email: 'admin@roboport.local', password: 'Admin-Passw0rd!', groups: ['admins'] },
    { username: 'client@roboport.local', email: 'client@roboport.local', password: 'Client-Passw0rd!', groups: ['clients'] },
  ];
  const dataDir = tempDir();
  let cognito: Awaited<ReturnType<typeof startLocalCognito>>;
  let client: CognitoIdentityProviderClient;

  beforeAll(async () => {
    cognito = await startLocalCognito({ dataDir });
    client = new CognitoIdentityProviderClient(clientConfig(cognito.endpoint));
  });
  afterAll(async () => {
    client.destroy();
    await cognito.close();
  });

  async function signIn(clientId: string, user: LocalUser) {
    const { AuthenticationResult } = await client.send(
      new InitiateAuthCommand({
        ClientId: clientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: user.username, PASSWORD: user.password },
      }),
    );
    return { idToken: AuthenticationResult!.IdToken!, accessToken: AuthenticationResult!.AccessToken! };
  }

  it('signs users in with USER_PASSWORD_AUTH and verifies their id tokens', async () => {
    const pool = await ensureUserPool(client, { users });
    expect(await ensureUserPool(client, { users })).toEqual(pool);
    const verifier = createLocalJwtVerifier({ cognitoUrl: cognito.endpoint, ...pool });

    const { idToken, accessToken } = await signIn(pool.clientId, users[0]!);
    const claims = await verifier.verify(idToken);
    expect(claims.iss).toBe(`${cognito.endpoint}/${pool.poolId}`);
    expect(claims.sub).toMatch(/.+/);
    expect(claims['cognito:groups']).toEqual(['admins']);
    expect((await verifier.verify((await signIn(pool.clientId, users[1]!)).idToken))['cognito:groups']).toEqual(['clients']);

    // Access tokens carry no `aud` (and token_use "access"): not accepted where id tokens are expected.
    await expect(verifier.verify(accessToken)).rejects.toThrow();
    await expect(verifier.verify(tamperPayload(idToken, { 'cognito:groups': ['admins', 'root'] }))).rejects.toThrow(/signature/i);
    await expect(verifier.verify(resignedExpired(idToken))).rejects.toThrow(/expired/i);
  });

  it('finds the same pool and client after a restart on the same data directory', async () => {
    const before = await ensureUserPool(client, { users });
    const restarted = await startLocalCognito({ dataDir });
    const restartedClient = new CognitoIdentityProviderClient(clientConfig(restarted.endpoint));
    try {
      expect(await ensureUserPool(restartedClient, { users })).toEqual(before);
    } finally {
      restartedClient.destroy();
      await restarted.close();
    }
  });
});

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}
function encodePart(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Changes claims but keeps the original signature. */
function tamperPayload(token: string, claims: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  return [header, encodePart({ ...decodePart(payload), ...claims }), signature].join('.');
}

/** Validly signed with cognito-local's key, but expired a minute ago. */
function resignedExpired(token: string): string {
  const [header, payload] = token.split('.') as [string, string];
  const now = Math.floor(Date.now() / 1000);
  const signingInput = `${header}.${encodePart({ ...decodePart(payload), iat: now - 120, exp: now - 60 })}`;
  const keyFile = createRequire(import.meta.url).resolve('cognito-local/lib/keys/cognitoLocal.private.json');
  const { pem } = JSON.parse(readFileSync(keyFile, 'utf8')) as { pem: string };
  return `${signingInput}.${createSign('RSA-SHA256').update(signingInput).sign(pem, 'base64url')}`;
}
