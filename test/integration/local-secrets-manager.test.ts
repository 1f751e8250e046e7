import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ensureJsonSecret, startLocalSecretsManager, type LocalSecretsManager } from '../../local/emulators/secrets-manager';

const dataDir = mkdtempSync(path.join(tmpdir(), 'roboport-secrets-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const running: Array<{ emulator: LocalSecretsManager; client: SecretsManagerClient }> = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const { emulator, client } of running.splice(0)) {
    client.destroy();
    await emulator.close();
  }
});

/** The SDK client configured only through the environment, exactly as the worker's. */
async function start(dataFile?: string) {
  const emulator = await startLocalSecretsManager(dataFile ? { dataFile } : {});
  vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', emulator.endpoint);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  const client = new SecretsManagerClient({ credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  running.push({ emulator, client });
  return { emulator, client };
}

describe('local Secrets Manager', () => {
  it('creates, reads by name and by ARN, and puts new versions with the unchanged SDK', async () => {
    const { client } = await start();
    const created = await client.send(new CreateSecretCommand({ Name: 'roboport/local/robots/portal', SecretString: '{"username":"robot","password":"one"}' }));
    expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:roboport\/local\/robots\/portal-.{6}$/);

    const byName = await client.send(new GetSecretValueCommand({ SecretId: 'roboport/local/robots/portal' }));
    expect(byName).toMatchObject({ Name: 'roboport/local/robots/portal', SecretString: '{"username":"robot","password":"one"}', VersionStages: ['AWSCURRENT'] });
    expect(byName.CreatedDate).toBeInstanceOf(Date);

    const put = await client.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: '{"username":"robot","password":"two"}' }));
    expect(put.VersionId).not.toBe(created.VersionId);
    const byArn = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    expect(byArn).toMatchObject({ SecretString: '{"username":"robot","password":"two"}', VersionId: put.VersionId });

    const described = await client.send(new DescribeSecretCommand({ SecretId: 'roboport/local/robots/portal' }));
    expect(described.VersionIdsToStages).toEqual({ [put.VersionId!]: ['AWSCURRENT'] });
    expect(described.LastChangedDate!.getTime()).toBeGreaterThanOrEqual(described.CreatedDate!.getTime());
  });

  it('answers with the AWS error types the SDK maps to exception classes', async () => {
    const { client } = await start();
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'nope' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(client.send(new PutSecretValueCommand({ SecretId: 'nope', SecretString: 'x' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'x' }));
    await expect(client.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'y' }))).rejects.toBeInstanceOf(ResourceExistsException);
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'dup', VersionStage: 'AWSPREVIOUS' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('carries binary secrets and lists secrets by name', async () => {
    const { client } = await start();
    await client.send(new CreateSecretCommand({ Name: 'b-binary', SecretBinary: new Uint8Array([0, 1, 254, 255]) }));
    await client.send(new CreateSecretCommand({ Name: 'a-text', SecretString: 'text', Description: 'plain' }));
    expect(Array.from((await client.send(new GetSecretValueCommand({ SecretId: 'b-binary' }))).SecretBinary ?? [])).toEqual([0, 1, 254, 255]);
    const { SecretList } = await client.send(new ListSecretsCommand({}));
    expect(SecretList?.map(({ Name, Description }) => ({ Name, Description }))).toEqual([
      { Name: 'a-text', Description: 'plain' },
      { Name: 'b-binary', Description: undefined },
    ]);
  });

  it('keeps secrets across restarts in its data file, readable by its owner only', async () => {
    const dataFile = path.join(dataDir, 'secrets.json');
    const first = await start(dataFile);
    const { ARN } = await first.client.send(new CreateSecretCommand({ Name: 'kept', SecretString: 'v1' }));
    await first.client.send(new PutSecretValueCommand({ SecretId: 'kept', SecretString: 'v2' }));
    first.client.destroy();
    await first.emulator.close();
    running.splice(0);
    expect(statSync(dataFile).mode & 0o077).toBe(0);

    const second = await start(dataFile);
    const value = await second.client.send(new GetSecretValueCommand({ SecretId: ARN }));
    expect(value).toMatchObject({ Name: 'kept', SecretString: 'v2' });
  });

  it('ensureJsonSecret keeps a valid value, and creates or repairs one otherwise', async () => {
    const { client } = await start();
    const schema = z.object({ username: z.string(), password: z.string() });
    let generated = 0;
    const create = () => ({ username: 'robot', password: `generated-${++generated}` });

    expect(await ensureJsonSecret(client, 'creds', schema, create)).toEqual({ username: 'robot', password: 'generated-1' });
    expect(await ensureJsonSecret(client, 'creds', schema, create)).toEqual({ username: 'robot', password: 'generated-1' });
    await client.send(new PutSecretValueCommand({ SecretId: 'creds', SecretString: 'not json' }));
    expect(await ensureJsonSecret(client, 'creds', schema, create)).toEqual({ username: 'robot', password: 'generated-2' });
    expect((await client.send(new GetSecretValueCommand({ SecretId: 'creds' }))).SecretString).toBe('{"username":"robot","password":"generated-2"}');
  });
});
