import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { InputInvalid, ScheduleNotFound, ServiceUnavailable } from './errors';
import type { Caller } from './job';
import { checkRobotCredentials, submitJob, validateSubmission, type SubmitDeps } from './jobs';
import { parseOrThrow } from './validation';
import { isSupportedTimeZone, nextRunAt, parseScheduleExpression, shortestIntervalMinutes } from './schedule-expression';

/**
 * Recurring jobs. A schedule is a stored job submission plus a cron or rate expression in a time
 * zone; a trigger (EventBridge Scheduler in AWS) fires run-schedule, which submits the job for
 * the schedule's owner. Schedules are private to their owner; admins see everyone's.
 */
export interface Schedule {
  scheduleId: string;
  owner: string;
  name: string;
  robot: string;
  input: Record<string, unknown>;
  callbackUrl?: string;
  /** EventBridge form: cron(...) or rate(...). */
  cron: string;
  /** IANA time zone the expression is evaluated in. */
  timezone: string;
  enabled: boolean;
  createdAt: string;
}

/** The schedule as clients see it: no owner; the next run is computed when read. */
export type ScheduleView = Omit<Schedule, 'owner'> & { nextRunAt: string | null };

export interface ScheduleStore {
  create(schedule: Schedule): Promise<void>;
  get(scheduleId: string): Promise<Schedule | undefined>;
  /** Deleting a missing schedule is not an error. */
  delete(scheduleId: string): Promise<void>;
  countByOwner(owner: string): Promise<number>;
  list(query: ScheduleListQuery): Promise<SchedulePage>;
}

export interface ScheduleListQuery {
  /** Only this owner's schedules; undefined lists everyone's (admins). */
  owner?: string;
  limit: number;
  nextToken?: string;
}

export interface SchedulePage {
  schedules: Schedule[];
  nextToken?: string;
}

/** The timers that fire run-schedule: one per schedule, named by its id. */
export interface ScheduleTriggers {
  create(schedule: Schedule): Promise<void>;
  /** Deleting a missing trigger is not an error. */
  delete(scheduleId: string): Promise<void>;
}

export interface ScheduleLimits {
  /** Shortest time between two runs: protects the portals robots visit. */
  minIntervalMinutes: number;
  maxPerOwner: number;
}

export const DEFAULT_SCHEDULE_LIMITS: ScheduleLimits = { minIntervalMinutes: 5, maxPerOwner: 20 };

export interface ScheduleDeps {
  store: ScheduleStore;
  triggers: ScheduleTriggers;
}

export interface CreateScheduleDeps extends ScheduleDeps, Pick<SubmitDeps, 'robots' | 'egressAllowHosts' | 'timeouts' | 'credentials'> {
  limits: ScheduleLimits;
  now?: () => Date;
}

export const scheduleIdSchema = z.uuid();

export function scheduleSchema(limits: ScheduleLimits) {
  return z.strictObject({
    name: z.string().trim().min(1).max(100),
    // Checked by validateSubmission, exactly as for POST /jobs.
    robot: z.unknown().optional(),
    input: z.unknown().optional(),
    callbackUrl: z.unknown().optional(),
    cron: z
      .string()
      .trim()
      .max(256)
      .superRefine((text, ctx) => {
        const parsed = parseScheduleExpression(text);
        if (!parsed.ok) {
          ctx.addIssue({ code: 'custom', message: parsed.message });
          return;
        }
        const interval = shortestIntervalMinutes(parsed.expression);
        if (interval < limits.minIntervalMinutes) {
          ctx.addIssue({ code: 'custom', message: `runs every ${interval} minute(s); the minimum is ${limits.minIntervalMinutes}` });
        }
      }),
    timezone: z.string().refine(isSupportedTimeZone, 'must be an IANA time zone such as Europe/Lisbon, or UTC'),
    enabled: z.boolean().default(true),
  });
}

/**
 * POST /schedules. The record is written before the trigger exists (a trigger firing without a
 * record is skipped) and removed again if the trigger cannot be created: nothing is left half-done.
 */
export async function createSchedule(deps: CreateScheduleDeps, caller: Caller, body: unknown): Promise<ScheduleView> {
  const { robot, input, callbackUrl, ...settings } = parseOrThrow(scheduleSchema(deps.limits), body, 'Schedule is invalid');
  const submission = validateSubmission(deps, { robot, input, callbackUrl });
  await checkRobotCredentials(deps, caller.sub, submission.robot, submission.input);
  // Counted, not reserved: two concurrent creates may pass one over the limit, which only softens a quota.
  if ((await deps.store.countByOwner(caller.sub)) >= deps.limits.maxPerOwner) {
    throw new InputInvalid(`At most ${deps.limits.maxPerOwner} schedules per owner`, {
      fields: [{ field: '(root)', message: `at most ${deps.limits.maxPerOwner} schedules per owner; delete one first` }],
    });
  }
  const now = (deps.now ?? (() => new Date()))();
  const schedule: Schedule = {
    scheduleId: randomUUID(),
    owner: caller.sub,
    robot: submission.robot.name,
    input: submission.input,
    ...(submission.callbackUrl ? { callbackUrl: submission.callbackUrl } : {}),
    ...settings,
    createdAt: now.toISOString(),
  };
  await deps.store.create(schedule);
  try {
    await deps.triggers.create(schedule);
  } catch (error) {
    await deps.store.delete(schedule.scheduleId);
    throw new ServiceUnavailable('The schedule could not be created; retry the request', undefined, { cause: error });
  }
  return toScheduleView(schedule, now);
}

export async function getSchedule(store: ScheduleStore, caller: Caller, scheduleId: string, now = new Date()): Promise<ScheduleView> {
  return toScheduleView(await findVisibleSchedule(store, caller, scheduleId), now);
}

export const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  nextToken: z.string().min(1).max(2048).optional(),
});

export interface ScheduleListView {
  schedules: ScheduleView[];
  nextToken?: string;
}

/** GET /schedules: the caller's schedules (admins: everyone's), newest first. */
export async function listSchedules(
  store: ScheduleStore,
  caller: Caller,
  query: Record<string, string | undefined>,
  now = new Date(),
): Promise<ScheduleListView> {
  const { limit, nextToken } = parseOrThrow(listQuerySchema, query, 'Query parameters are invalid');
  const page = await store.list({ ...(caller.isAdmin ? {} : { owner: caller.sub }), ...(nextToken ? { nextToken } : {}), limit });
  return {
    schedules: page.schedules.map((schedule) => toScheduleView(schedule, now)),
    ...(page.nextToken ? { nextToken: page.nextToken } : {}),
  };
}

/** DELETE /schedules/{id}: the trigger first, so a failure leaves a schedule the owner can still see and delete. */
export async function deleteSchedule(deps: ScheduleDeps, caller: Caller, scheduleId: string): Promise<void> {
  await findVisibleSchedule(deps.store, caller, scheduleId);
  await deps.triggers.delete(scheduleId);
  await deps.store.delete(scheduleId);
}

async function findVisibleSchedule(store: ScheduleStore, caller: Caller, scheduleId: string): Promise<Schedule> {
  // Someone else's schedule answers exactly like a missing one, so ids cannot be probed.
  const schedule = scheduleIdSchema.safeParse(scheduleId).success ? await store.get(scheduleId) : undefined;
  if (!schedule || !(caller.isAdmin || caller.sub === schedule.owner)) throw new ScheduleNotFound(scheduleId);
  return schedule;
}

export function toScheduleView(schedule: Schedule, now: Date): ScheduleView {
  const { owner: _owner, ...view } = schedule;
  const parsed = parseScheduleExpression(schedule.cron);
  const next = schedule.enabled && parsed.ok ? nextRunAt(parsed.expression, schedule.timezone, now, new Date(schedule.createdAt)) : undefined;
  return { ...view, nextRunAt: next ? next.toISOString() : null };
}

/** What the Scheduler substitutes with the time a run was due (ISO 8601, UTC). */
const SCHEDULED_TIME_PLACEHOLDER = '<aws.scheduler.scheduled-time>';

/** The trigger's payload for run-schedule; the Scheduler fills in the scheduled time. */
export function triggerInputOf(scheduleId: string): string {
  return JSON.stringify({ scheduleId, scheduledTime: SCHEDULED_TIME_PLACEHOLDER });
}

const triggerEventSchema = z.object({ scheduleId: z.uuid(), scheduledTime: z.iso.datetime() });

export type ScheduleRunOutcome =
  | { outcome: 'submitted'; jobId: string; replayed: boolean }
  | { outcome: 'skipped'; reason: 'deleted' | 'disabled' }
  /** The stored submission no longer passes validation (robot removed, input schema changed). */
  | { outcome: 'rejected'; reason: string };

/**
 * run-schedule: submits the schedule's job for its owner. The Idempotency-Key names the schedule
 * and the scheduled time, so a trigger that fires twice for one time creates one job.
 */
export async function runSchedule(deps: SubmitDeps & { schedules: ScheduleStore }, event: unknown): Promise<ScheduleRunOutcome> {
  const { scheduleId, scheduledTime } = parseOrThrow(triggerEventSchema, event, 'Schedule trigger event is invalid');
  const schedule = await deps.schedules.get(scheduleId);
  if (!schedule) return { outcome: 'skipped', reason: 'deleted' };
  if (!schedule.enabled) return { outcome: 'skipped', reason: 'disabled' };
  const owner: Caller = { sub: schedule.owner, isAdmin: false };
  const body = { robot: schedule.robot, input: schedule.input, ...(schedule.callbackUrl ? { callbackUrl: schedule.callbackUrl } : {}) };
  try {
    const { job, replayed } = await submitJob(deps, owner, body, `schedule-${scheduleId}-${scheduledTime}`);
    return { outcome: 'submitted', jobId: job.jobId, replayed };
  } catch (error) {
    if (error instanceof InputInvalid) return { outcome: 'rejected', reason: error.message };
    throw error;
  }
}
