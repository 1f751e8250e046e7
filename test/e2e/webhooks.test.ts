import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';
import { pollUntil } from '../../local/emulators/poll';

const outputs = inject('outputs');
const client = new LocalClient(outputs);
let alice: string;
let bob: string;

beforeAll(async () => {
  alice = await client.signInSeeded('clients');
  bob = await client.signUpAndIn('webhooks-bob@roboport.local');
});

interface Delivery {
  headers: Record<string, string>;
  body: string;
  status: number;
}

const inboxUrl = (id: string, query = '') => `${outputs.SandboxUrl}/webhook-inbox/${id}${query}`;

/** Polls the sandbox inbox until `done` holds. */
async function waitForDeliveries(id: string, done: (deliveries: Delivery[]) => boolean, timeoutMs = 30_000): Promise<Delivery[]> {
  return pollUntil(
    async () => {
      const deliveries = ((await (await fetch(inboxUrl(id))).json()) as { deliveries: Delivery[] }).deliveries;
      return done(deliveries) ? deliveries : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `the expected deliveries in inbox ${id}` },
  );
}

/**
 * The receiver's check, written here from docs/webhooks.md and node:crypto only (no project
 * code): t within 5 minutes, and some v1 equal to HMAC-SHA256(secret, t + "." + raw body).
 */
function independentlyVerified(delivery: Delivery, secret: string): boolean {
  const fields = delivery.headers['roboport-signature']!.split(',').map((part) => part.split('=') as [string, string]);
  const t = Number(fields.find(([name]) => name === 't')?.[1]);
  if (Math.abs(Date.now() / 1000 - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${delivery.body}`, 'utf8').digest();
  return fields.filter(([name]) => name === 'v1').some(([, hex]) => hex.length === 64 && timingSafeEqual(Buffer.from(hex, 'hex'), expected));
}

const snapshotWithCallback = (callbackUrl: string) => ({ robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/article` }, callbackUrl });

describe('job.finished webhooks on the local stack', () => {
  it('serves each owner their own secret, only with a token', async () => {
    expect((await client.api('GET', '/webhook-secret')).status).toBe(401);
    const mine = await client.api('GET', '/webhook-secret', { token: alice });
    expect(mine.status).toBe(200);
    expect(mine.body.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect((await client.api('GET', '/webhook-secret', { token: alice })).body.secret).toBe(mine.body.secret);
    expect((await client.api('GET', '/webhook-secret', { token: bob })).body.secret).not.toBe(mine.body.secret);
  });

  it('delivers the signed summary once the job ends, and the signature verifies independently', async () => {
    const { secret } = (await client.api('GET', '/webhook-secret', { token: alice })).body;
    const inbox = randomUUID();
    const idempotencyKey = `webhook-e2e-${inbox}`;
    const submitted = await client.api('POST', '/jobs', { token: alice, body: snapshotWithCallback(inboxUrl(inbox)), headers: { 'idempotency-key': idempotencyKey } });
    expect(submitted.status).toBe(202);
    const jobId = submitted.body.jobId as string;

    const [delivery] = await waitForDeliveries(inbox, (deliveries) => deliveries.length > 0);
    const job = await client.waitForJob(alice, jobId, (j) => isTerminal(j) && j.webhook?.status === 'DELIVERED');

    expect(independentlyVerified(delivery!, secret)).toBe(true);
    expect(independentlyVerified({ ...delivery!, body: delivery!.body.replace('SUCCEEDED', 'FAILED') }, secret)).toBe(false);
    expect(delivery!.headers).toMatchObject({
      'content-type': 'application/json',
      'roboport-event': 'job.finished',
      'roboport-job-id': jobId,
      'idempotency-key': idempotencyKey,
      'roboport-delivery': expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
    });
    const payload = JSON.parse(delivery!.body);
    expect(payload).toMatchObject({ event: 'job.finished', jobId, robot: 'web-snapshot', status: 'SUCCEEDED', attempts: 1, links: { job: `/jobs/${jobId}` } });
    expect(payload.status).toBe(job.status);
    expect(delivery!.body).not.toContain('X-Amz-Signature');
    expect(payload.input).toBeUndefined();
    expect(job.webhook).toMatchObject({ status: 'DELIVERED', attempts: 1 });
  });

  it('retries a failing receiver with backoff and delivers on the third attempt, same delivery id', async () => {
    const { secret } = (await client.api('GET', '/webhook-secret', { token: alice })).body;
    const inbox = randomUUID();
    const submitted = await client.api('POST', '/jobs', { token: alice, body: snapshotWithCallback(inboxUrl(inbox, '?fail=2')) });
    expect(submitted.status).toBe(202);

    const deliveries = await waitForDeliveries(inbox, (all) => all.some((d) => d.status === 200));
    const job = await client.waitForJob(alice, submitted.body.jobId, (j) => j.webhook?.status === 'DELIVERED');

    expect(deliveries.map((d) => d.status)).toEqual([500, 500, 200]);
    expect(new Set(deliveries.map((d) => d.headers['roboport-delivery'])).size).toBe(1);
    expect(deliveries.every((d) => independentlyVerified(d, secret))).toBe(true);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.webhook).toMatchObject({ status: 'DELIVERED', attempts: 3 });
  });

  it('notifies a failed job too, and the execution still ends failed', async () => {
    const inbox = randomUUID();
    const body = { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/missing` }, callbackUrl: inboxUrl(inbox) };
    const submitted = await client.api('POST', '/jobs', { token: alice, body });
    const [delivery] = await waitForDeliveries(inbox, (deliveries) => deliveries.length > 0);
    const job = await client.waitForJob(alice, submitted.body.jobId, (j) => j.webhook?.status === 'DELIVERED');

    expect(job.status).toBe('FAILED');
    expect(JSON.parse(delivery!.body)).toMatchObject({ jobId: job.jobId, status: 'FAILED', error: job.error });
    expect(await client.waitForExecutionEnd(job.jobId)).toBe('FAILED');
  });

  it('refuses a callbackUrl to a private address at submit', async () => {
    for (const callbackUrl of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.8/hook', 'http://localhost:8080/hook']) {
      const refused = await client.api('POST', '/jobs', { token: alice, body: snapshotWithCallback(callbackUrl) });
      expect(refused.status, callbackUrl).toBe(400);
      expect(refused.body.error.details.fields[0].field, callbackUrl).toBe('callbackUrl');
    }
  });

  it('rotates the secret and signs with the new and the previous one during the grace period', async () => {
    const before = (await client.api('GET', '/webhook-secret', { token: bob })).body.secret as string;
    const rotated = await client.api('POST', '/webhook-secret/rotate', { token: bob });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(before);
    expect(rotated.body.previousSecretValidUntil).toEqual(expect.any(String));
    expect((await client.api('GET', '/webhook-secret', { token: bob })).body.secret).toBe(rotated.body.secret);

    const inbox = randomUUID();
    await client.api('POST', '/jobs', { token: bob, body: snapshotWithCallback(inboxUrl(inbox)) });
    const [delivery] = await waitForDeliveries(inbox, (deliveries) => deliveries.length > 0);
    expect(delivery!.headers['roboport-signature']!.match(/v1=/g)).toHaveLength(2);
    expect(independentlyVerified(delivery!, rotated.body.secret)).toBe(true);
    expect(independentlyVerified(delivery!, before)).toBe(true);
  });
});
