import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';

const outputs = inject('outputs');
const client = new LocalClient(outputs);
let alice: string;
let bob: string;
let admin: string;

beforeAll(async () => {
  alice = await client.signInSeeded('clients');
  admin = await client.signInSeeded('admins');
  bob = await client.signUpAndIn('bob@roboport.local');
});

const snapshot = (path: string, formats = ['pdf']) => ({ robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}${path}`, formats } });

describe('walking skeleton on the local stack', () => {
  it('serves /health without a token and refuses everything else without a valid one', async () => {
    expect((await client.api('GET', '/health')).status).toBe(200);
    const anonymous = await client.api('GET', '/jobs');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('UNAUTHORIZED');
    const tampered = `${alice.slice(0, -4)}AAAA`;
    expect((await client.api('GET', '/jobs', { token: tampered })).status).toBe(401);
    expect((await client.api('POST', '/jobs', { body: snapshot('/article') })).status).toBe(401);
  });

  it('lists robots with their input schema', async () => {
    const res = await client.api('GET', '/robots', { token: alice });
    expect(res.status).toBe(200);
    expect(res.body.robots.map((r: { name: string }) => r.name)).toContain('web-snapshot');
  });

  it('runs a web-snapshot job to SUCCEEDED with a downloadable PDF and PNG', async () => {
    const submitted = await client.api('POST', '/jobs', { token: alice, body: snapshot('/article', ['pdf', 'png']) });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ status: 'QUEUED', robot: 'web-snapshot', attempts: 0 });

    const job = await client.waitForJob(alice, submitted.body.jobId, isTerminal);

    expect(job.status).toBe('SUCCEEDED');
    expect(job.attempts).toBe(1);
    expect(job.artifacts.map((a: { name: string }) => a.name).sort()).toEqual(['snapshot.pdf', 'snapshot.png']);
    for (const artifact of job.artifacts) {
      const download = await fetch(artifact.url);
      expect(download.status).toBe(200);
      const bytes = Buffer.from(await download.arrayBuffer());
      expect(bytes.length).toBe(artifact.size);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(artifact.sha256);
      if (artifact.name.endsWith('.pdf')) expect(bytes.subarray(0, 4).toString()).toBe('%PDF');
      else expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    }
  });

  it('refuses invalid input with 400 naming the field, and private targets', async () => {
    const bad = await client.api('POST', '/jobs', { token: alice, body: { robot: 'web-snapshot', input: { url: 'not-a-url', formats: ['gif'] } } });
    expect(bad.status).toBe(400);
    const fields = bad.body.error.details.fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['input.url', 'input.formats.0']));

    const metadata = await client.api('POST', '/jobs', { token: alice, body: { robot: 'web-snapshot', input: { url: 'http://169.254.169.254/latest/' } } });
    expect(metadata.status).toBe(400);
    expect(metadata.body.error.details.fields[0].field).toBe('input.url');

    expect((await client.api('POST', '/jobs', { token: alice, body: '{"robot":' })).status).toBe(400);
    expect((await client.api('POST', '/jobs', { token: alice, body: { robot: 'web-snapshot', input: { url: 'x'.repeat(300_000) } } })).status).toBe(413);
  });

  it('fails a job whose page redirects to the metadata address, as a business error', async () => {
    const submitted = await client.api('POST', '/jobs', { token: alice, body: snapshot('/redirect-to-metadata') });
    const job = await client.waitForJob(alice, submitted.body.jobId, isTerminal);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatchObject({ type: 'BUSINESS', code: 'EGRESS_BLOCKED' });
    expect(job.artifacts).toEqual([]);
  });

  it('keeps jobs private: another user gets 404, an admin sees everyone’s', async () => {
    const mine = await client.api('POST', '/jobs', { token: alice, body: snapshot('/') });
    const theirs = await client.api('POST', '/jobs', { token: bob, body: snapshot('/') });

    expect((await client.api('GET', `/jobs/${mine.body.jobId}`, { token: bob })).status).toBe(404);
    expect((await client.api('POST', `/jobs/${mine.body.jobId}/cancel`, { token: bob })).status).toBe(404);

    const bobsList = await client.api('GET', '/jobs?limit=100', { token: bob });
    expect(bobsList.body.jobs.map((j: { jobId: string }) => j.jobId)).toEqual([theirs.body.jobId]);
    const adminList = await client.api('GET', '/jobs?limit=100', { token: admin });
    const adminIds = adminList.body.jobs.map((j: { jobId: string }) => j.jobId);
    expect(adminIds).toEqual(expect.arrayContaining([mine.body.jobId, theirs.body.jobId]));
  });

  it('pages through the caller’s jobs newest first', async () => {
    const first = await client.api('GET', '/jobs?limit=2', { token: alice });
    expect(first.body.jobs).toHaveLength(2);
    expect(first.body.nextToken).toEqual(expect.any(String));
    const second = await client.api('GET', `/jobs?limit=2&nextToken=${encodeURIComponent(first.body.nextToken)}`, { token: alice });
    const created = [...first.body.jobs, ...second.body.jobs].map((j: { createdAt: string }) => j.createdAt);
    expect(created).toEqual([...created].sort().reverse());
    expect((await client.api('GET', `/jobs?nextToken=${encodeURIComponent(first.body.nextToken)}`, { token: bob })).status).toBe(400);
  });

  it('cancels a running job; it stays CANCELLED', async () => {
    const submitted = await client.api('POST', '/jobs', { token: alice, body: snapshot('/slow?ms=20000') });
    await client.waitForJob(alice, submitted.body.jobId, (job) => job.status === 'RUNNING');

    const cancelled = await client.api('POST', `/jobs/${submitted.body.jobId}/cancel`, { token: alice });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');
    expect((await client.api('POST', `/jobs/${submitted.body.jobId}/cancel`, { token: alice })).status).toBe(409);

    // The worker notices at its next heartbeat and reports back; the job must not change.
    const execution = await client.waitForExecutionEnd(submitted.body.jobId);
    expect(execution).toBeDefined();
    const job = (await client.api('GET', `/jobs/${submitted.body.jobId}`, { token: alice })).body;
    expect(job.status).toBe('CANCELLED');
    expect(job.artifacts).toEqual([]);
  });

  it('makes submissions idempotent with Idempotency-Key', async () => {
    const headers = { 'Idempotency-Key': `e2e-${Date.now()}` };
    const first = await client.api('POST', '/jobs', { token: alice, body: snapshot('/'), headers });
    const again = await client.api('POST', '/jobs', { token: alice, body: snapshot('/'), headers });
    expect(again.status).toBe(202);
    expect(again.body.jobId).toBe(first.body.jobId);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const conflict = await client.api('POST', '/jobs', { token: alice, body: snapshot('/article'), headers });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  });
});

