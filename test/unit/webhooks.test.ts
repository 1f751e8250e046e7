import { describe, expect, it, vi } from 'vitest';
import { HttpWebhookSender } from '../../core/adapters/http-webhook-sender';
import { ROTATION_GRACE_SECONDS, rotateWebhookSecret, signingSecrets, toWebhookSecretView, webhookSecretsOf } from '../../core/webhook-secrets';
import {
  computeSignature,
  deliverJobWebhook,
  signatureHeader,
  verifySignature,
  webhookDeliveryId,
  webhookPayload,
  WebhookDeliveryFailed,
  type WebhookSender,
} from '../../core/webhooks';
import { WEBHOOK_DELIVERY_FAILED } from '../../core/workflow-contract';
import { MemoryItemStore, makeItem } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { MemoryWebhookSecretStore } from '../support/memory-webhook-secrets';

const NOW = new Date('2026-11-23T12:00:00.000Z');
const NOW_SECONDS = NOW.getTime() / 1000;


describe('webhook signatures', () => {
  it('matches a known-answer vector (computed independently with openssl dgst -sha256 -hmac)', () => {
    const body = '{"event":"job.finished","jobId":"42"}';
    expect(computeSignature('whsec_test-secret', 1767225600, body)).toBe('4d5444ad0c13cde2db0056fa788beb9d332a9e75d9320346018bd4a8171901f3');
    expect(signatureHeader(['whsec_test-secret'], 1767225600, body)).toBe('t=1767225600,v1=4d5444ad0c13cde2db0056fa788beb9d332a9e75d9320346018bd4a8171901f3');
  });

  it('verifies a fresh signature and rejects a tampered body, another secret, an old or future timestamp', () => {
    const body = JSON.stringify({ jobId: 'a', status: 'SUCCEEDED' });
    const header = signatureHeader(['s3cret'], NOW_SECONDS, body);
    expect(verifySignature(header, body, 's3cret', { nowSeconds: NOW_SECONDS + 60 })).toBe(true);
    expect(verifySignature(header, body.replace('SUCCEEDED', 'FAILED'), 's3cret', { nowSeconds: NOW_SECONDS })).toBe(false);
    expect(verifySignature(header, body, 'other', { nowSeconds: NOW_SECONDS })).toBe(false);
    expect(verifySignature(header, body, 's3cret', { nowSeconds: NOW_SECONDS + 301 })).toBe(false);
    expect(verifySignature(header, body, 's3cret', { nowSeconds: NOW_SECONDS - 301 })).toBe(false);
    expect(verifySignature(undefined, body, 's3cret', { nowSeconds: NOW_SECONDS })).toBe(false);
    expect(verifySignature(`t=${NOW_SECONDS},v1=zz`, body, 's3cret', { nowSeconds: NOW_SECONDS })).toBe(false);
  });

  it('signs with both secrets during a rotation, so a receiver still on the old one verifies', () => {
    const body = '{}';
    const header = signatureHeader(['new', 'old'], NOW_SECONDS, body);
    expect(header.match(/v1=/g)).toHaveLength(2);
    expect(verifySignature(header, body, 'old', { nowSeconds: NOW_SECONDS })).toBe(true);
    expect(verifySignature(header, body, 'new', { nowSeconds: NOW_SECONDS })).toBe(true);
  });
});

describe('webhook secrets', () => {
  it('creates 32 random bytes on first use and returns the same secret afterwards', async () => {
    const store = new MemoryWebhookSecretStore();
    const first = await webhookSecretsOf(store, 'alice', NOW);
    expect(first.current).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(await webhookSecretsOf(store, 'alice', NOW)).toEqual(first);
    expect((await webhookSecretsOf(store, 'bob', NOW)).current).not.toBe(first.current);
  });

  it('rotates: a new secret, the previous one signing too until the grace period ends', async () => {
    const store = new MemoryWebhookSecretStore();
    const before = await webhookSecretsOf(store, 'alice', NOW);
    const rotated = await rotateWebhookSecret(store, 'alice', NOW);
    expect(rotated.current).not.toBe(before.current);
    expect(signingSecrets(rotated, new Date(NOW.getTime() + 1000))).toEqual([rotated.current, before.current]);
    expect(signingSecrets(rotated, new Date(NOW.getTime() + ROTATION_GRACE_SECONDS * 1000))).toEqual([rotated.current]);
    const view = toWebhookSecretView(rotated, NOW);
    expect(view.secret).toBe(rotated.current);
    expect(JSON.stringify(view)).not.toContain(before.current);
  });
});

describe('webhook payload', () => {
  it('summarises the job without input, artifact links or internal fields', () => {
    const job = makeJob({
      status: 'FAILED',
      attempts: 2,
      input: { url: 'https://example.com/', password: 'hunter2' },
      error: { type: 'TECHNICAL', code: 'X', message: 'boom' },
      artifacts: [{ name: 'a.pdf', contentType: 'application/pdf', size: 1, sha256: 'f'.repeat(64), key: 'jobs/1/a.pdf' }],
      idempotencyKey: 'key-1',
      executionArn: 'arn:aws:states:x',
      callbackUrl: 'https://hooks.example.com/x?token=abc',
    });
    const payload = webhookPayload(job, { succeeded: 3, failed: 1 });
    expect(payload).toEqual({
      event: 'job.finished',
      jobId: job.jobId,
      robot: 'web-snapshot',
      status: 'FAILED',
      attempts: 2,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      error: { type: 'TECHNICAL', code: 'X', message: 'boom' },
      itemCounts: { succeeded: 3, failed: 1 },
      links: { job: `/jobs/${job.jobId}` },
    });
    expect(JSON.stringify(payload)).not.toMatch(/hunter2|jobs\/1\/a\.pdf|token=abc|arn:aws/);
  });
});

describe('deliverJobWebhook', () => {
  const CALLBACK = 'https://hooks.example.com/roboport';

  function setup(answers: Array<{ status: number } | { refused: string } | Error>, jobOverrides = {}) {
    const jobs = new MemoryJobStore();
    const job = makeJob({ status: 'PARTIAL', callbackUrl: CALLBACK, idempotencyKey: 'order-7', ...jobOverrides });
    jobs.jobs.set(job.jobId, job);
    const items = new MemoryItemStore().seed(
      makeItem({ key: '1001', position: 0, status: 'SUCCEEDED' }),
      makeItem({ key: '4040', position: 1, status: 'FAILED', error: { type: 'BUSINESS', code: 'UNKNOWN', message: 'unknown' } }),
    );
    const secrets = new MemoryWebhookSecretStore();
    const post = vi.fn<WebhookSender['post']>(async () => {
      const answer = answers.shift() ?? { status: 200 };
      if (answer instanceof Error) throw answer;
      return answer;
    });
    const deps = { jobs, items, secrets, sender: { post }, now: () => NOW };
    return { deps, jobs, job, post, secrets };
  }

  it('POSTs the signed summary with event, delivery, job id and idempotency headers, and records DELIVERED', async () => {
    const { deps, jobs, job, post, secrets } = setup([{ status: 204 }]);
    const delivery = await deliverJobWebhook(deps, { jobId: job.jobId, maxAttempts: 3 });

    expect(delivery).toEqual({ status: 'DELIVERED', attempts: 1, lastAttemptAt: NOW.toISOString() });
    expect((await jobs.get(job.jobId))?.webhook).toEqual(delivery);
    expect((await jobs.get(job.jobId))?.status).toBe('PARTIAL');
    const [url, body, headers] = post.mock.calls[0]!;
    expect(url).toBe(CALLBACK);
    expect(JSON.parse(body)).toMatchObject({ jobId: job.jobId, status: 'PARTIAL', itemCounts: { succeeded: 1, failed: 1 } });
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'roboport-event': 'job.finished',
      'roboport-delivery': webhookDeliveryId(job.jobId),
      'roboport-job-id': job.jobId,
      'idempotency-key': 'order-7',
    });
    const secret = (await secrets.get(job.owner))!.current;
    expect(verifySignature(headers['roboport-signature'], body, secret, { nowSeconds: NOW_SECONDS })).toBe(true);
  });

  it('throws Webhook.DeliveryFailed while attempts remain, keeps one delivery id, and gives up as FAILED on the last', async () => {
    const { deps, jobs, job, post } = setup([{ status: 500 }, new Error('connect ECONNREFUSED'), { status: 302 }]);
    const input = { jobId: job.jobId, maxAttempts: 3 };

    const first = deliverJobWebhook(deps, input);
    await expect(first).rejects.toBeInstanceOf(WebhookDeliveryFailed);
    await expect(first).rejects.toMatchObject({ name: WEBHOOK_DELIVERY_FAILED });
    expect((await jobs.get(job.jobId))?.webhook).toMatchObject({ status: 'RETRYING', attempts: 1, lastError: 'receiver answered HTTP 500' });

    await expect(deliverJobWebhook(deps, input)).rejects.toThrow('ECONNREFUSED');
    const last = await deliverJobWebhook(deps, input);
    expect(last).toMatchObject({ status: 'FAILED', attempts: 3, lastError: 'receiver answered HTTP 302' });
    expect(new Set(post.mock.calls.map(([, , headers]) => headers['roboport-delivery']))).toEqual(new Set([webhookDeliveryId(job.jobId)]));
    expect((await jobs.get(job.jobId))?.status).toBe('PARTIAL');
  });

  it('gives up at once when the egress guard refuses the URL', async () => {
    const { deps, job } = setup([{ refused: 'host 10.0.0.5 is a private address' }]);
    await expect(deliverJobWebhook(deps, { jobId: job.jobId, maxAttempts: 10 })).resolves.toMatchObject({
      status: 'FAILED',
      attempts: 1,
      lastError: expect.stringContaining('10.0.0.5'),
    });
  });

  it('sends nothing for a job without callbackUrl or a webhook already delivered', async () => {
    const withoutCallback = setup([], { callbackUrl: undefined });
    await expect(deliverJobWebhook(withoutCallback.deps, { jobId: withoutCallback.job.jobId, maxAttempts: 3 })).resolves.toBeUndefined();
    const delivered = setup([], { webhook: { status: 'DELIVERED', attempts: 1, lastAttemptAt: NOW.toISOString() } });
    await deliverJobWebhook(delivered.deps, { jobId: delivered.job.jobId, maxAttempts: 3 });
    expect(withoutCallback.post).not.toHaveBeenCalled();
    expect(delivered.post).not.toHaveBeenCalled();
  });
});

describe('HttpWebhookSender', () => {
  const lookupTo = (address: string) => vi.fn(async () => [{ address, family: address.includes(':') ? 6 : 4 }]);

  it.each([
    ['http://127.0.0.1:9/hook', 'loopback'],
    ['http://169.254.169.254/latest', 'link-local'],
    ['http://[::1]/hook', 'loopback'],
    ['http://localhost/hook', 'local'],
  ])('refuses %s without connecting', async (url, reason) => {
    const lookup = lookupTo('93.184.216.34');
    const answer = await new HttpWebhookSender({ allowHosts: [], timeoutMs: 1000, lookup }).post(url, '{}', {});
    expect(answer).toEqual({ refused: expect.stringContaining(reason) });
  });

  it('refuses a public name that resolves to a private address (checked on the resolved address)', async () => {
    const lookup = lookupTo('10.1.2.3');
    const answer = await new HttpWebhookSender({ allowHosts: [], timeoutMs: 1000, lookup }).post('https://hooks.example.com/x', '{}', {});
    expect(answer).toEqual({ refused: 'hooks.example.com resolves to 10.1.2.3, a private address' });
    expect(lookup).toHaveBeenCalledOnce();
  });
});
