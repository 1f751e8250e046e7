import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';

/**
 * Portal session reuse on the whole stack: a login's session is kept (sealed) per owner, portal and
 * credentials, and later jobs and every chunk of a fanned-out job (chunks of 25 locally) start from
 * it; a session the portal ended costs one re-login; another owner never gets it.
 */
const outputs = inject('outputs');
const dataDir = inject('dataDir');
const client = new LocalClient(outputs);
const local = { region: outputs.Region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
const admin = { 'x-portal-admin': outputs.PortalAdminToken };

const portalStats = async (): Promise<{ logins: number; rejectedLogins: number }> => (await fetch(`${outputs.PortalUrl}/__admin/stats`, { headers: admin })).json() as never;
const invoicesFrom = (first: number, count: number) => Array.from({ length: count }, (_, i) => String(first + i));

let dynamo: DynamoDBClient;
let portalPassword: string;

beforeAll(async () => {
  const ports = JSON.parse(readFileSync(path.join(dataDir, 'ports.json'), 'utf8')) as { dynamodb: number };
  dynamo = new DynamoDBClient({ ...local, endpoint: `http://127.0.0.1:${ports.dynamodb}` });
  const secrets = new SecretsManagerClient({ ...local, endpoint: outputs.SecretsManagerEndpoint });
  portalPassword = JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: outputs.PortalSecretName }))).SecretString!).password;
  secrets.destroy();
});

afterAll(() => dynamo?.destroy());

/** Runs one freight job to its end; answers its portal logins as the portal counted them and as the job shows them. */
async function runJob(token: string, invoices: string[]): Promise<{ job: any; portalLogins: number }> {
  const before = await portalStats();
  const submitted = await client.api('POST', '/jobs', {
    token,
    body: { robot: 'freight-pod-download', input: { portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName, invoices } },
  });
  expect(submitted.status).toBe(202);
  const job = await client.waitForJob(token, submitted.body.jobId, isTerminal, 240_000);
  return { job, portalLogins: (await portalStats()).logins - before.logins };
}

describe('portal session reuse', () => {
  it('logs in once per portal session across jobs and chunks, once more after the portal ended it, and never for another owner', async () => {
    const alice = await client.signInSeeded('clients');
    const figures: string[] = [];
    const record = (label: string, { job, portalLogins }: { job: any; portalLogins: number }) => {
      figures.push(`${label}: items=${job.progress?.total} status=${job.status} attempts=${job.attempts} portal logins=${portalLogins} job logins=${job.logins}`);
      expect(job.logins).toBe(portalLogins);
    };
    // Whatever earlier files left kept: this owner starts signed out.
    await fetch(`${outputs.PortalUrl}/__admin/expire-sessions`, { method: 'POST', headers: admin });

    const first = await runJob(alice, invoicesFrom(883100, 10));
    record('first job', first);
    // A kept session of an earlier file may be ended (expired above): one login either way.
    expect(first.job.status).toBe('SUCCEEDED');
    expect(first.portalLogins).toBe(1);

    const second = await runJob(alice, invoicesFrom(883200, 10));
    record('second job', second);
    expect(second.job.status).toBe('SUCCEEDED');
    expect(second.portalLogins).toBe(0);

    // Three chunks of 25 running at once: each starts from the kept session.
    const fannedOut = await runJob(alice, invoicesFrom(883300, 60));
    record('fanned-out job (3 chunks)', fannedOut);
    expect(fannedOut.job.status).toBe('SUCCEEDED');
    expect(fannedOut.portalLogins).toBe(0);

    const expired = await (await fetch(`${outputs.PortalUrl}/__admin/expire-sessions`, { method: 'POST', headers: admin })).json();
    const afterExpiry = await runJob(alice, invoicesFrom(883400, 10));
    record(`after the portal ended ${expired.expired} session(s)`, afterExpiry);
    expect(afterExpiry.job.status).toBe('SUCCEEDED');
    expect(afterExpiry.portalLogins).toBe(1);

    const reusedAgain = await runJob(alice, invoicesFrom(883500, 10));
    record('next job', reusedAgain);
    expect(reusedAgain.portalLogins).toBe(0);

    // Same shared credentials, same portal, another owner: a session of its own.
    const bob = await client.signUpAndIn('bob-sessions@roboport.local');
    const bobs = await runJob(bob, invoicesFrom(883600, 10));
    record('another owner', bobs);
    expect(bobs.job.status).toBe('SUCCEEDED');
    expect(bobs.portalLogins).toBe(1);
    console.log(`portal sessions:\n  ${figures.join('\n  ')}`);

    // What is kept is sealed: neither the password nor the session cookie (name or value) shows in any stored byte.
    const { Items = [] } = await dynamo.send(new ScanCommand({ TableName: outputs.PortalSessionsTableName }));
    expect(Items.length).toBeGreaterThanOrEqual(2);
    const stored = Buffer.concat(Items.flatMap((item) => [Buffer.from(JSON.stringify(item)), Buffer.from(item.blob?.B ?? new Uint8Array())]));
    expect(stored.includes(portalPassword)).toBe(false);
    expect(stored.includes('portal_session')).toBe(false);
    console.log(`portal sessions: ${Items.length} kept, ${stored.byteLength} bytes scanned, no password or cookie in clear`);
  }, 600_000);
});
