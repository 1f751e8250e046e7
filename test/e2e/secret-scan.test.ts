import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DynamoDBClient, ListTablesCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';
import { needlesFor, scanFiles } from '../support/secret-scan';
import { startStackProcess, type StackProcess } from '../support/stack-process';

/**
 * The whole stack, scanned for the portal password after jobs that typed it: every log line of the
 * stack and its worker, every record in every DynamoDB table, and every byte of every stored object
 * (traces unzipped). Only the secret store itself may hold it.
 */
let stack: StackProcess;
const local = { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };

beforeAll(async () => {
  stack = await startStackProcess({ env: { WORKER_HEARTBEAT_SECONDS: '2' } });
});

afterAll(async () => {
  await stack?.stop();
});

function filesUnder(dir: string): Array<[string, Uint8Array]> {
  return readdirSync(dir).flatMap((name): Array<[string, Uint8Array]> => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file) : [[file, readFileSync(file)]];
  });
}

async function tableRecords(endpoint: string): Promise<Array<[string, Uint8Array]>> {
  const dynamo = new DynamoDBClient({ region: stack.outputs.Region, endpoint, ...local });
  const records: Array<[string, Uint8Array]> = [];
  for (const table of (await dynamo.send(new ListTablesCommand({}))).TableNames ?? []) {
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: table, ExclusiveStartKey: startKey }));
      (page.Items ?? []).forEach((item, index) => records.push([`${table}#${records.length + index}`, Buffer.from(JSON.stringify(item))]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }
  dynamo.destroy();
  return records;
}

describe('secrets never stored', () => {
  it('finds the portal password in no log line, table record or stored object after jobs that typed it', async () => {
    const { outputs, dataDir } = stack;
    const client = new LocalClient(outputs);
    const alice = await client.signInSeeded('clients');
    const secrets = new SecretsManagerClient({ region: outputs.Region, endpoint: outputs.SecretsManagerEndpoint, ...local });
    const account = JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: outputs.PortalSecretName }))).SecretString!) as { username: string; password: string };
    secrets.destroy();
    const portalHost = new URL(outputs.PortalUrl).host;
    expect((await client.api('PUT', '/secrets/scan-portal', { token: alice, body: { ...account, hosts: [portalHost] } })).status).toBe(201);

    // Unknown invoices leave failed items with screenshot and HTML; a 503… invoice fails technically after
    // retries, whose traces are kept with it; one job uses the shared credentials.
    const jobs = await Promise.all(
      ['scan-portal', 'shared/freight-portal'].map(async (credentialsSecret, index) => {
        const invoices = [`77${index}0001`, `404${index}00002`, `77${index}0003`, `503${index}00004`];
        const submitted = await client.api('POST', '/jobs', { token: alice, body: { robot: 'freight-pod-download', input: { portalUrl: outputs.PortalUrl, credentialsSecret, invoices } } });
        expect(submitted.status).toBe(202);
        return client.waitForJob(alice, submitted.body.jobId, isTerminal, 180_000);
      }),
    );
    expect(jobs.map((job) => job.status)).toEqual(['PARTIAL', 'PARTIAL']);

    const { dynamodb } = JSON.parse(readFileSync(path.join(dataDir, 'ports.json'), 'utf8')) as { dynamodb: number };
    const stored = [...filesUnder(path.join(dataDir, 's3')), ...(await tableRecords(`http://127.0.0.1:${dynamodb}`)), ['stack and worker logs', Buffer.from(stack.output())] as [string, Uint8Array]];
    const scan = await scanFiles(stored, needlesFor({ password: account.password }, account.username));
    console.log(`secret scan: files=${scan.files} zipEntries=${scan.entries} bytes=${scan.bytes} leaks=${scan.leaks.length}`);
    expect(scan.entries).toBeGreaterThan(0); // the failed items' traces were opened and scanned
    expect(scan.leaks).toEqual([]);
    // The control: the same scan over the secret store itself finds the password.
    const store = await scanFiles([['secrets-manager.json', readFileSync(path.join(dataDir, 'secrets-manager.json'))]], needlesFor({ password: account.password }));
    expect(store.leaks.length).toBeGreaterThan(0);
  }, 300_000);
});
