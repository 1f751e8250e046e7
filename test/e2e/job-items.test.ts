import { createHash, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';
import { pollUntil } from '../../local/emulators/poll';

const outputs = inject('outputs');
const client = new LocalClient(outputs);
let alice: string;
let bob: string;

beforeAll(async () => {
  alice = await client.signInSeeded('clients');
  bob = await client.signUpAndIn('items-bob@roboport.local');
});

/** The sandbox portal knows every 6-12 digit invoice except those starting with 404. */
const INVOICES = ['100200300', '404000001', '100200301'];

describe('work items, retry of failed items, and item counts in the webhook', () => {
  let jobId: string;
  const inbox = randomUUID();

  beforeAll(async () => {
    const submitted = await client.api('POST', '/jobs', {
      token: alice,
      body: {
        robot: 'freight-pod-download',
        input: { portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName, invoices: INVOICES },
        callbackUrl: `${outputs.SandboxUrl}/webhook-inbox/${inbox}`,
      },
    });
    expect(submitted.status).toBe(202);
    jobId = submitted.body.jobId;
    expect((await client.waitForJob(alice, jobId, isTerminal, 90_000)).status).toBe('PARTIAL');
  });

  it('lists the items in input order with downloadable PODs and the business error of the unknown one', async () => {
    const { status, body } = await client.api('GET', `/jobs/${jobId}/items`, { token: alice });
    expect(status).toBe(200);
    expect(body.items.map((item: { key: string; status: string }) => [item.key, item.status])).toEqual([
      ['100200300', 'SUCCEEDED'],
      ['404000001', 'FAILED'],
      ['100200301', 'SUCCEEDED'],
    ]);
    expect(body.items[1].error).toMatchObject({ type: 'BUSINESS', code: 'UNKNOWN_INVOICE' });
    for (const item of body.items.filter((i: { status: string }) => i.status === 'SUCCEEDED')) {
      const bytes = Buffer.from(await (await fetch(item.artifact.url)).arrayBuffer());
      expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(item.artifact.sha256);
      expect(item.attempts).toBeGreaterThanOrEqual(1);
    }
  });

  it('paginates, filters by status, and hides the items of someone else’s job', async () => {
    const first = await client.api('GET', `/jobs/${jobId}/items?limit=2`, { token: alice });
    expect(first.body.items).toHaveLength(2);
    const rest = await client.api('GET', `/jobs/${jobId}/items?limit=2&nextToken=${encodeURIComponent(first.body.nextToken)}`, { token: alice });
    expect(rest.body.items.map((item: { key: string }) => item.key)).toEqual(['100200301']);
    const failed = await client.api('GET', `/jobs/${jobId}/items?status=FAILED`, { token: alice });
    expect(failed.body.items.map((item: { key: string }) => item.key)).toEqual(['404000001']);
    expect((await client.api('GET', `/jobs/${jobId}/items`, { token: bob })).status).toBe(404);
    expect((await client.api('GET', `/jobs/${jobId}/items?limit=500`, { token: alice })).status).toBe(400);
  });

  it('counts the items in the webhook payload', async () => {
    const deliveries = await pollUntil(
      async () => {
        const inboxed = ((await (await fetch(`${outputs.SandboxUrl}/webhook-inbox/${inbox}`)).json()) as { deliveries: Array<{ body: string }> }).deliveries;
        return inboxed.length ? inboxed : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the webhook delivery' },
    );
    expect(JSON.parse(deliveries[0]!.body)).toMatchObject({ jobId, status: 'PARTIAL', itemCounts: { succeeded: 2, failed: 1 } });
  });

  it('retries the failed items only, as a new job linked both ways, idempotently; business failures only when asked', async () => {
    const headers = { 'idempotency-key': `retry-${jobId}` };
    const body = { scope: 'all-failed' };
    expect((await client.api('POST', `/jobs/${jobId}/retry`, { token: bob, headers, body })).status).toBe(404);
    // The default scope retries technical failures only: the unknown invoice would fail again.
    const technical = await client.api('POST', `/jobs/${jobId}/retry`, { token: alice });
    expect(technical.status).toBe(409);
    expect(technical.body.error.message).toContain('all-failed');

    const retry = await client.api('POST', `/jobs/${jobId}/retry`, { token: alice, headers, body });
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ status: 'QUEUED', robot: 'freight-pod-download', retryOf: jobId, input: { invoices: ['404000001'] } });
    expect(retry.body.jobId).not.toBe(jobId);

    const replay = await client.api('POST', `/jobs/${jobId}/retry`, { token: alice, headers, body });
    expect(replay.body.jobId).toBe(retry.body.jobId);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const notFinished = await client.api('POST', `/jobs/${retry.body.jobId}/retry`, { token: alice });
    expect(notFinished.status).toBe(409);
    expect(notFinished.body.error.code).toBe('RETRY_NOT_POSSIBLE');

    const retried = await client.waitForJob(alice, retry.body.jobId, isTerminal, 90_000);
    expect((await client.api('GET', `/jobs/${retried.jobId}/items`, { token: alice })).body.items.map((item: { key: string }) => item.key)).toEqual(['404000001']);
    expect((await client.api('GET', `/jobs/${jobId}`, { token: alice })).body).toMatchObject({ status: 'PARTIAL', retries: [retry.body.jobId] });
  });
});
