import { testCredentialDeps } from '../support/memory-credential-store';
import { DEFAULT_JOB_TIMEOUTS } from '../../core/delivery';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InputInvalid, ScheduleNotFound, ServiceUnavailable } from '../../core/errors';
import type { Caller } from '../../core/job';
import { jobIdFromIdempotencyKey, type SubmitDeps } from '../../core/jobs';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  runSchedule,
  type CreateScheduleDeps,
  type Schedule,
  type ScheduleListQuery,
  type SchedulePage,
  type ScheduleStore,
} from '../../core/schedules';
import { robotCatalog } from '../../robots';
import { MemoryJobStore } from '../support/memory-job-store';

/** In-memory ScheduleStore, newest first like the DynamoDB indexes. */
class MemoryScheduleStore implements ScheduleStore {
  readonly schedules = new Map<string, Schedule>();
  async create(schedule: Schedule): Promise<void> {
    this.schedules.set(schedule.scheduleId, structuredClone(schedule));
  }
  async get(scheduleId: string): Promise<Schedule | undefined> {
    return structuredClone(this.schedules.get(scheduleId));
  }
  async delete(scheduleId: string): Promise<void> {
    this.schedules.delete(scheduleId);
  }
  async countByOwner(owner: string): Promise<number> {
    return [...this.schedules.values()].filter((schedule) => schedule.owner === owner).length;
  }
  async list(query: ScheduleListQuery): Promise<SchedulePage> {
    const schedules = [...this.schedules.values()]
      .filter((schedule) => query.owner === undefined || schedule.owner === query.owner)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, query.limit);
    return { schedules };
  }
}

const alice: Caller = { sub: 'alice', isAdmin: false };
const bob: Caller = { sub: 'bob', isAdmin: false };
const admin: Caller = { sub: 'root', isAdmin: true };
const NOW = new Date('2026-07-03T07:30:00Z');

const body = (overrides: Record<string, unknown> = {}) => ({
  name: 'Morning snapshot',
  robot: 'web-snapshot',
  input: { url: 'https://example.com/' },
  cron: 'cron(0 8 ? * MON-FRI *)',
  timezone: 'Europe/Lisbon',
  ...overrides,
});

/** The fields an InputInvalid names. */
async function invalidFields(promise: Promise<unknown>): Promise<string[]> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(InputInvalid);
  return ((error as InputInvalid).details as { fields: Array<{ field: string }> }).fields.map((f) => f.field);
}

describe('schedule use cases', () => {
  let store: MemoryScheduleStore;
  let deps: CreateScheduleDeps & { triggers: { create: ReturnType<typeof vi.fn>; delete: ReturnType<typeof vi.fn> } };

  beforeEach(() => {
    store = new MemoryScheduleStore();
    deps = {
      store,
      triggers: { create: vi.fn(async () => undefined), delete: vi.fn(async () => undefined) },
      robots: robotCatalog,
      egressAllowHosts: [],
timeouts: DEFAULT_JOB_TIMEOUTS, credentials: testCredentialDeps(),
      limits: { minIntervalMinutes: 5, maxPerOwner: 2 },
      now: () => NOW,
    };
  });

  describe('createSchedule', () => {
    it('stores the schedule for the caller, creates its trigger and answers with the next run', async () => {
      const view = await createSchedule(deps, alice, body());

      expect(view).toMatchObject({
        name: 'Morning snapshot',
        robot: 'web-snapshot',
        input: { url: 'https://example.com/', formats: ['pdf'] },
        cron: 'cron(0 8 ? * MON-FRI *)',
        timezone: 'Europe/Lisbon',
        enabled: true,
        createdAt: NOW.toISOString(),
        // Friday 08:30 in Lisbon: the next weekday 08:00 is Monday, 07:00 UTC.
        nextRunAt: '2026-07-06T07:00:00.000Z',
      });
      expect(view).not.toHaveProperty('owner');
      const stored = store.schedules.get(view.scheduleId);
      expect(stored?.owner).toBe('alice');
      expect(deps.triggers.create).toHaveBeenCalledWith(stored);
    });

    it('runs a rate schedule at once and a disabled one never', async () => {
      expect((await createSchedule(deps, alice, body({ cron: 'rate(1 hour)' }))).nextRunAt).toBe(NOW.toISOString());
      expect((await createSchedule(deps, alice, body({ enabled: false }))).nextRunAt).toBeNull();
    });

    it.each([
      [{ cron: 'cron(0 8 * * MON-FRI *)' }, 'cron'],
      [{ cron: 'cron(*/2 * * * ? *)' }, 'cron'],
      [{ cron: 'rate(1 minute)' }, 'cron'],
      [{ timezone: 'Europe/Atlantis' }, 'timezone'],
      [{ name: '  ' }, 'name'],
      [{ enabled: 'yes' }, 'enabled'],
      [{ surprise: true }, '(root)'],
      [{ robot: 'no-such-robot' }, 'robot'],
      [{ input: { url: 'not a url' } }, 'input.url'],
      [{ input: { url: 'http://169.254.169.254/' } }, 'input.url'],
      [{ callbackUrl: 'http://10.0.0.1/hook' }, 'callbackUrl'],
    ])('refuses %j with a 400 naming %s, and creates nothing', async (overrides, field) => {
      expect(await invalidFields(createSchedule(deps, alice, body(overrides)))).toContain(field);
      expect(store.schedules.size).toBe(0);
      expect(deps.triggers.create).not.toHaveBeenCalled();
    });

    it('names every invalid schedule field at once', async () => {
      const fields = await invalidFields(createSchedule(deps, alice, body({ cron: 'cron(bad)', timezone: 'Nowhere', name: '' })));
      expect(fields.sort()).toEqual(['cron', 'name', 'timezone']);
    });

    it('allows a shorter interval when the limit says so (the local stack)', async () => {
      deps.limits = { ...deps.limits, minIntervalMinutes: 1 };
      await expect(createSchedule(deps, alice, body({ cron: 'rate(1 minute)' }))).resolves.toMatchObject({ cron: 'rate(1 minute)' });
    });

    it('caps the schedules per owner', async () => {
      await createSchedule(deps, alice, body());
      await createSchedule(deps, alice, body());
      expect(await invalidFields(createSchedule(deps, alice, body()))).toEqual(['(root)']);
      await expect(createSchedule(deps, bob, body())).resolves.toBeDefined();
    });

    it('leaves nothing behind when the trigger cannot be created', async () => {
      deps.triggers.create.mockRejectedValueOnce(new Error('ThrottlingException'));

      await expect(createSchedule(deps, alice, body())).rejects.toBeInstanceOf(ServiceUnavailable);
      expect(store.schedules.size).toBe(0);
    });
  });

  describe('reading and deleting', () => {
    let mine: string;
    let theirs: string;

    beforeEach(async () => {
      mine = (await createSchedule(deps, alice, body())).scheduleId;
      theirs = (await createSchedule(deps, bob, body({ name: 'Bob’s' }))).scheduleId;
    });

    it('shows owners their own schedules and admins everyone’s', async () => {
      expect((await listSchedules(store, alice, {})).schedules.map((s) => s.scheduleId)).toEqual([mine]);
      expect((await listSchedules(store, admin, {})).schedules.map((s) => s.scheduleId).sort()).toEqual([mine, theirs].sort());
      expect(await getSchedule(store, alice, mine, NOW)).toMatchObject({ scheduleId: mine, nextRunAt: '2026-07-06T07:00:00.000Z' });
      expect(await getSchedule(store, admin, theirs)).toMatchObject({ scheduleId: theirs });
      expect(await invalidFields(listSchedules(store, alice, { limit: '0' }))).toEqual(['limit']);
    });

    it('answers someone else’s, a missing and a malformed id alike with 404', async () => {
      await expect(getSchedule(store, bob, mine)).rejects.toBeInstanceOf(ScheduleNotFound);
      await expect(getSchedule(store, alice, '00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(ScheduleNotFound);
      await expect(getSchedule(store, alice, 'not-an-id')).rejects.toBeInstanceOf(ScheduleNotFound);
      await expect(deleteSchedule(deps, bob, mine)).rejects.toBeInstanceOf(ScheduleNotFound);
      expect(deps.triggers.delete).not.toHaveBeenCalled();
      expect(store.schedules.has(mine)).toBe(true);
    });

    it('deletes the trigger, then the record; a failed trigger delete keeps the record', async () => {
      deps.triggers.delete.mockRejectedValueOnce(new Error('InternalServerException'));
      await expect(deleteSchedule(deps, alice, mine)).rejects.toThrow('InternalServerException');
      expect(store.schedules.has(mine)).toBe(true);

      await deleteSchedule(deps, alice, mine);
      expect(deps.triggers.delete).toHaveBeenLastCalledWith(mine);
      expect(store.schedules.has(mine)).toBe(false);
      await deleteSchedule(deps, admin, theirs);
      expect(store.schedules.size).toBe(0);
    });
  });

  describe('runSchedule', () => {
    let jobs: MemoryJobStore;
    let runDeps: SubmitDeps & { schedules: MemoryScheduleStore };
    let scheduleId: string;
    const scheduledTime = '2026-07-06T07:00:00Z';

    beforeEach(async () => {
      scheduleId = (await createSchedule(deps, alice, body({ callbackUrl: 'https://hooks.example.com/roboport' }))).scheduleId;
      jobs = new MemoryJobStore();
      runDeps = {
        schedules: store,
        store: jobs,
        workflow: { start: vi.fn(async (jobId: string) => `arn:aws:states:local:0:execution:jobs:${jobId}`) },
        robots: robotCatalog,
        egressAllowHosts: [],
timeouts: DEFAULT_JOB_TIMEOUTS, credentials: testCredentialDeps(),
      };
    });

    it('submits the schedule’s job for its owner, keyed by schedule and scheduled time', async () => {
      const result = await runSchedule(runDeps, { scheduleId, scheduledTime });

      const jobId = jobIdFromIdempotencyKey('alice', `schedule-${scheduleId}-${scheduledTime}`);
      expect(result).toEqual({ outcome: 'submitted', jobId, replayed: false });
      expect(await jobs.get(jobId)).toMatchObject({
        owner: 'alice',
        robot: 'web-snapshot',
        input: { url: 'https://example.com/', formats: ['pdf'] },
        callbackUrl: 'https://hooks.example.com/roboport',
      });
    });

    it('creates one job when the trigger fires twice for the same time, a new one for the next time', async () => {
      const first = await runSchedule(runDeps, { scheduleId, scheduledTime });
      const again = await runSchedule(runDeps, { scheduleId, scheduledTime });
      const next = await runSchedule(runDeps, { scheduleId, scheduledTime: '2026-07-07T07:00:00Z' });

      expect(again).toEqual({ ...first, replayed: true });
      expect(next).toMatchObject({ outcome: 'submitted', replayed: false });
      expect(jobs.jobs.size).toBe(2);
      expect(runDeps.workflow.start).toHaveBeenCalledTimes(2);
    });

    it('skips deleted and disabled schedules', async () => {
      const disabled = (await createSchedule(deps, alice, body({ enabled: false }))).scheduleId;
      await deleteSchedule(deps, alice, scheduleId);

      expect(await runSchedule(runDeps, { scheduleId, scheduledTime })).toEqual({ outcome: 'skipped', reason: 'deleted' });
      expect(await runSchedule(runDeps, { scheduleId: disabled, scheduledTime })).toEqual({ outcome: 'skipped', reason: 'disabled' });
      expect(jobs.jobs.size).toBe(0);
    });

    it('reports a stored submission that no longer validates instead of failing the run', async () => {
      const stored = store.schedules.get(scheduleId)!;
      stored.robot = 'retired-robot';

      expect(await runSchedule(runDeps, { scheduleId, scheduledTime })).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('retired-robot') });
      expect(jobs.jobs.size).toBe(0);
    });

    it('refuses an event without the schedule id or scheduled time', async () => {
      expect(await invalidFields(runSchedule(runDeps, { scheduleId }))).toEqual(['scheduledTime']);
      expect(await invalidFields(runSchedule(runDeps, { scheduleId, scheduledTime: '<aws.scheduler.scheduled-time>' }))).toEqual(['scheduledTime']);
    });
  });
});
