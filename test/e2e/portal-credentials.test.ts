import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';

/** Portal credentials as a resource: write-only values, bound to hosts, checked at submit. */
const outputs = inject('outputs');
const client = new LocalClient(outputs);
let alice: string;
let mallory: string;
let admin: string;
/** The sandbox portal's real account, read as an operator would (the local Secrets Manager). */
let portalAccount: { username: string; password: string };
const portalHost = new URL(outputs.PortalUrl).host;

const freightJob = (credentialsSecret: string, portalUrl = outputs.PortalUrl) => ({
  robot: 'freight-pod-download',
  input: { portalUrl, credentialsSecret, invoices: ['100200300'] },
});

beforeAll(async () => {
  alice = await client.signInSeeded('clients');
  admin = await client.signInSeeded('admins');
  mallory = await client.signUpAndIn('credentials-mallory@roboport.local');
  const secrets = new SecretsManagerClient({ region: outputs.Region, endpoint: outputs.SecretsManagerEndpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  portalAccount = JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: outputs.PortalSecretName }))).SecretString!);
  secrets.destroy();
});

describe('portal credentials', () => {
  it('stores credentials bound to the portal, shows only their metadata, and a job signs in with them', async () => {
    const put = await client.api('PUT', '/secrets/acme-portal', { token: alice, body: { ...portalAccount, hosts: [portalHost] } });
    expect(put.status).toBe(201);
    expect(put.body).toEqual({ name: 'acme-portal', scope: 'own', ref: 'acme-portal', hosts: [portalHost], updatedAt: expect.any(String) });

    const listed = await client.api('GET', '/secrets', { token: alice });
    expect(listed.body.secrets.map((secret: { ref: string }) => secret.ref)).toEqual(expect.arrayContaining(['acme-portal', 'shared/freight-portal']));
    const single = await client.api('GET', '/secrets/acme-portal', { token: alice });
    expect(single.status).toBe(200);
    for (const answer of [put, listed, single]) expect(JSON.stringify(answer.body)).not.toContain(portalAccount.password);

    const submitted = await client.api('POST', '/jobs', { token: alice, body: freightJob('acme-portal') });
    expect(submitted.status).toBe(202);
    expect((await client.waitForJob(alice, submitted.body.jobId, isTerminal, 90_000)).status).toBe('SUCCEEDED');
  });

  it('refuses at submit credentials that are not bound to the job’s portal host (phishing), with the field named', async () => {
    await client.api('PUT', '/secrets/acme-portal', { token: alice, body: { ...portalAccount, hosts: [portalHost] } });
    // The sandbox site is an allowed host, with a page of its own: not where these credentials belong.
    const refused = await client.api('POST', '/jobs', { token: alice, body: freightJob('acme-portal', `${outputs.SandboxUrl}/`) });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details.fields).toEqual([
      { field: 'input.credentialsSecret', message: `the credentials "acme-portal" are bound to ${portalHost}, not to ${new URL(outputs.SandboxUrl).host}` },
    ]);
    const shared = await client.api('POST', '/jobs', { token: alice, body: freightJob('shared/freight-portal', `${outputs.SandboxUrl}/`) });
    expect(shared.status).toBe(400);
  });

  it('never lets another tenant use, see or delete someone’s credentials', async () => {
    await client.api('PUT', '/secrets/acme-portal', { token: alice, body: { ...portalAccount, hosts: [portalHost] } });
    const aliceSub = JSON.parse(Buffer.from(alice.split('.')[1]!, 'base64url').toString()).sub as string;

    for (const ref of ['acme-portal', `roboport/local/robots/${aliceSub}/acme-portal`]) {
      const used = await client.api('POST', '/jobs', { token: mallory, body: freightJob(ref) });
      expect(used.status).toBe(400);
      expect(used.body.error.details.fields[0].field).toBe('input.credentialsSecret');
    }
    expect((await client.api('GET', '/secrets/acme-portal', { token: mallory })).status).toBe(404);
    expect((await client.api('DELETE', '/secrets/acme-portal', { token: mallory })).status).toBe(404);
    const listed = await client.api('GET', '/secrets', { token: mallory });
    expect(listed.body.secrets.map((secret: { ref: string }) => secret.ref)).not.toContain('acme-portal');
    expect((await client.api('GET', '/secrets/acme-portal', { token: alice })).status).toBe(200);
  });

  it('lets only admins manage shared credentials, and deletes at once', async () => {
    const body = { username: 'u', password: 'p', hosts: ['portal.example'] };
    const forbidden = await client.api('PUT', '/secrets/extra?scope=shared', { token: alice, body });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    expect((await client.api('PUT', '/secrets/extra?scope=shared', { token: admin, body })).status).toBe(201);
    expect((await client.api('GET', '/secrets/extra?scope=shared', { token: alice })).body.ref).toBe('shared/extra');
    expect((await client.api('DELETE', '/secrets/extra?scope=shared', { token: admin })).status).toBe(204);
    expect((await client.api('GET', '/secrets/extra?scope=shared', { token: alice })).status).toBe(404);
    // The name is free again at once.
    expect((await client.api('PUT', '/secrets/extra?scope=shared', { token: admin, body })).status).toBe(201);
    expect((await client.api('DELETE', '/secrets/extra?scope=shared', { token: admin })).status).toBe(204);
  });

  it('refuses invalid credentials with the field named', async () => {
    const bad = await client.api('PUT', '/secrets/acme-portal', { token: alice, body: { username: 'u', password: 'p', hosts: ['https://portal.example/'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields[0].field).toBe('hosts.0');
  });
});
