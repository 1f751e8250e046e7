import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';
import { pollUntil } from '../../local/emulators/poll';

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

/** A schedule whose jobs can be told apart from every other job by their URL. */
const scheduleBody = (overrides: Record<string, unknown> = {}) => ({
  name: 'e2e snapshot',
  robot: 'web-snapshot',
  input: { url: `${outputs.SandboxUrl}/?schedule=${Date.now()}` },
  cron: 'rate(1 minute)',
  timezone: 'Europe/Lisbon',
  ...overrides,
});

const fieldsOf = (res: { body: any }) => res.body.error.details.fields.map((f: { field: string }) => f.field);

describe('schedules on the local stack', () => {
  it('runs a schedule’s job right away (rate), keeps it private, and stops when deleted', async () => {
    const body = scheduleBody();
    const created = await client.api('POST', '/schedules', { token: alice, body });
    expect(created.status).toBe(201);
    const { scheduleId } = created.body;
    expect(created.headers.get('location')).toBe(`/schedules/${scheduleId}`);
    expect(created.body).toMatchObject({ name: 'e2e snapshot', robot: 'web-snapshot', cron: 'rate(1 minute)', timezone: 'Europe/Lisbon', enabled: true });
    expect(created.body).not.toHaveProperty('owner');

    // The local scheduler fires a rate schedule at creation, like EventBridge Scheduler without StartDate.
    const scheduledJob = await pollUntil(
      async () => {
        const jobs = (await client.api('GET', '/jobs?limit=100', { token: alice })).body.jobs;
        return jobs.find((job: { input: { url: string } }) => job.input.url === body.input.url) as { jobId: string } | undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'a job submitted by the schedule' },
    );
    const job = await client.waitForJob(alice, scheduledJob.jobId, isTerminal);
    expect(job.status).toBe('SUCCEEDED');

    expect((await client.api('GET', `/schedules/${scheduleId}`, { token: alice })).body).toMatchObject({ scheduleId, nextRunAt: expect.any(String) });
    expect((await client.api('GET', `/schedules/${scheduleId}`, { token: bob })).status).toBe(404);
    expect((await client.api('DELETE', `/schedules/${scheduleId}`, { token: bob })).status).toBe(404);
    const bobsList = (await client.api('GET', '/schedules', { token: bob })).body.schedules.map((s: { scheduleId: string }) => s.scheduleId);
    expect(bobsList).not.toContain(scheduleId);
    const adminList = (await client.api('GET', '/schedules?limit=100', { token: admin })).body.schedules.map((s: { scheduleId: string }) => s.scheduleId);
    expect(adminList).toContain(scheduleId);

    const deleted = await client.api('DELETE', `/schedules/${scheduleId}`, { token: alice });
    expect(deleted.status).toBe(204);
    expect((await client.api('GET', `/schedules/${scheduleId}`, { token: alice })).status).toBe(404);
    expect((await client.api('DELETE', `/schedules/${scheduleId}`, { token: alice })).status).toBe(404);
  });

  it('answers a cron schedule with its next run in its time zone, and refuses invalid ones naming the field', async () => {
    const created = await client.api('POST', '/schedules', { token: bob, body: scheduleBody({ cron: 'cron(0 8 ? * MON-FRI *)', enabled: false }) });
    expect(created.status).toBe(201);
    expect(created.body.nextRunAt).toBeNull();
    expect((await client.api('DELETE', `/schedules/${created.body.scheduleId}`, { token: bob })).status).toBe(204);

    const invalid = [
      [{ cron: 'cron(0 8 * * MON-FRI *)' }, 'cron'],
      [{ cron: 'rate(30 seconds)' }, 'cron'],
      [{ timezone: 'Europe/Atlantis' }, 'timezone'],
      [{ input: { url: 'http://169.254.169.254/latest/' } }, 'input.url'],
      [{ robot: 'nope' }, 'robot'],
    ] as const;
    for (const [overrides, field] of invalid) {
      const res = await client.api('POST', '/schedules', { token: alice, body: scheduleBody(overrides) });
      expect(res.status, JSON.stringify(overrides)).toBe(400);
      expect(fieldsOf(res)).toContain(field);
    }
    expect((await client.api('POST', '/schedules', { body: scheduleBody() })).status).toBe(401);
    expect((await client.api('GET', '/schedules')).status).toBe(401);
  });
});
