import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { isSupportedTimeZone, nextRunAt, parseScheduleExpression, type ScheduleExpression } from '../../core/schedule-expression';
import { closeServer, listenOnLoopback } from './http-server';
import { readJsonBody } from './aws-json-server';

/** A Lambda target: called with the schedule's Input, parsed as JSON, like an asynchronous invoke. */
export type ScheduleTarget = (payload: unknown) => Promise<unknown>;

export interface LocalSchedulerOptions {
  /** Targets by function ARN; a schedule whose Target.Arn names none fails at each run (reported to onInvocationError). */
  targets: Record<string, ScheduleTarget>;
  /** JSON file that keeps the schedules across restarts; in memory only when absent. */
  dataFile?: string;
  port?: number;
  region?: string;
  account?: string;
  /** The clock, in epoch ms. Tests move it forward to reach a cron minute without waiting for it. */
  now?: () => number;
  /** A run whose target failed or was missing (AWS would retry it, then park it in the DLQ). */
  onInvocationError?: (scheduleName: string, error: unknown) => void;
}

export interface LocalScheduler {
  /** Value for AWS_ENDPOINT_URL_SCHEDULER. */
  endpoint: string;
  /** Clears every timer, waits for running invocations and closes the server. */
  close(): Promise<void>;
}

/** Request fields of CreateSchedule this emulation keeps (names as in the API). */
interface StoredSchedule {
  Name: string;
  GroupName: string;
  Arn: string;
  ScheduleExpression: string;
  ScheduleExpressionTimezone: string;
  State: 'ENABLED' | 'DISABLED';
  Description?: string;
  FlexibleTimeWindow: { Mode: string; MaximumWindowInMinutes?: number };
  Target: { Arn: string; RoleArn: string; Input?: string } & Record<string, unknown>;
  ClientToken?: string;
  /** Epoch ms; rate schedules run first at creation, then every interval. */
  CreationDate: number;
}

interface ArmedSchedule {
  schedule: StoredSchedule;
  expression: ScheduleExpression;
  timer?: NodeJS.Timeout;
}

/** What the Scheduler substitutes in a target's Input with the time the run was due. */
const SCHEDULED_TIME = '<aws.scheduler.scheduled-time>';
/** setTimeout's longest delay; later runs are re-armed when it expires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const SCHEDULE_NAME = /^[0-9a-zA-Z_.-]{1,64}$/;

class SchedulerApiError extends Error {
  constructor(
    readonly type: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * EventBridge Scheduler on 127.0.0.1, speaking the restJson1 protocol of @aws-sdk/client-scheduler
 * for CreateSchedule (POST /schedules/{Name}), GetSchedule (GET) and DeleteSchedule (DELETE), with
 * `groupName` in the query (Get/Delete) or body (Create). Schedules run on in-process timers:
 * cron and rate expressions are evaluated in their time zone by core/schedule-expression.ts, and
 * the target gets its Input with `<aws.scheduler.scheduled-time>` filled in. Not emulated:
 * schedule groups (any name is accepted), one-time at() schedules, flexible windows (runs start
 * on time), retries and the DLQ (failures go to onInvocationError).
 */
export async function startLocalScheduler(options: LocalSchedulerOptions): Promise<LocalScheduler> {
  const now = options.now ?? Date.now;
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const schedules = new Map<string, ArmedSchedule>();
  const running = new Set<Promise<void>>();
  let closed = false;

  const keyOf = (groupName: string, name: string) => `${groupName}/${name}`;

  const persist = () => {
    if (!options.dataFile) return;
    mkdirSync(path.dirname(options.dataFile), { recursive: true });
    const temporary = `${options.dataFile}.tmp`;
    writeFileSync(temporary, JSON.stringify([...schedules.values()].map((armed) => armed.schedule), null, 2));
    renameSync(temporary, options.dataFile);
  };

  const arm = (armed: ArmedSchedule, from: number) => {
    if (closed || armed.schedule.State !== 'ENABLED') return;
    const { ScheduleExpressionTimezone: timeZone, CreationDate } = armed.schedule;
    const due = nextRunAt(armed.expression, timeZone, new Date(from), new Date(CreationDate));
    if (!due) return;
    const delay = Math.max(0, due.getTime() - now());
    armed.timer = setTimeout(() => (delay > MAX_TIMER_MS ? arm(armed, from) : fire(armed, due)), Math.min(delay, MAX_TIMER_MS));
  };

  const fire = (armed: ArmedSchedule, due: Date) => {
    armed.timer = undefined;
    const invocation = invoke(armed.schedule, due)
      .catch((error: unknown) => options.onInvocationError?.(armed.schedule.Name, error))
      .finally(() => running.delete(invocation));
    running.add(invocation);
    arm(armed, due.getTime() + 1);
  };

  const invoke = async ({ Target }: StoredSchedule, due: Date) => {
    const target = options.targets[Target.Arn];
    if (!target) throw new Error(`No local target registered for ${Target.Arn}`);
    const scheduledTime = due.toISOString().replace(/\.\d{3}Z$/, 'Z');
    await target(Target.Input === undefined ? {} : JSON.parse(Target.Input.replaceAll(SCHEDULED_TIME, scheduledTime)));
  };

  const add = (schedule: StoredSchedule, from: number): ArmedSchedule => {
    const parsed = parseScheduleExpression(schedule.ScheduleExpression);
    if (!parsed.ok) throw new SchedulerApiError('ValidationException', 400, `Invalid Schedule Expression ${schedule.ScheduleExpression}: ${parsed.message}`);
    const armed: ArmedSchedule = { schedule, expression: parsed.expression };
    schedules.set(keyOf(schedule.GroupName, schedule.Name), armed);
    arm(armed, from);
    return armed;
  };

  const actions = {
    create(name: string, body: Record<string, unknown>): object {
      const groupName = typeof body.GroupName === 'string' ? body.GroupName : 'default';
      const existing = schedules.get(keyOf(groupName, name));
      if (existing) {
        // ClientToken makes a retried create idempotent.
        if (body.ClientToken !== undefined && existing.schedule.ClientToken === body.ClientToken) return { ScheduleArn: existing.schedule.Arn };
        throw new SchedulerApiError('ConflictException', 409, `Schedule ${name} already exists.`);
      }
      const arn = `arn:aws:scheduler:${region}:${account}:schedule/${groupName}/${name}`;
      // Created and armed at one instant: a rate schedule's first run is its creation.
      const createdAt = now();
      const { schedule } = add(validCreateRequest(name, groupName, body, arn, createdAt), createdAt);
      persist();
      return { ScheduleArn: schedule.Arn };
    },
    get(name: string, groupName: string): object {
      const { schedule } = found(name, groupName);
      const { ClientToken: _clientToken, CreationDate, ...fields } = schedule;
      return { ...fields, CreationDate: CreationDate / 1000, LastModificationDate: CreationDate / 1000 };
    },
    delete(name: string, groupName: string): object {
      const armed = found(name, groupName);
      clearTimeout(armed.timer);
      schedules.delete(keyOf(groupName, name));
      persist();
      return {};
    },
  };

  const found = (name: string, groupName: string): ArmedSchedule => {
    const armed = schedules.get(keyOf(groupName, name));
    if (!armed) throw new SchedulerApiError('ResourceNotFoundException', 404, `Schedule ${name} does not exist.`);
    return armed;
  };

  if (options.dataFile && existsSync(options.dataFile)) {
    for (const schedule of JSON.parse(readFileSync(options.dataFile, 'utf8')) as StoredSchedule[]) add(schedule, now());
  }

  const server = createServer((request, response) => {
    route(request, actions).then(
      (body) => respond(response, 200, body),
      (error: unknown) => {
        const apiError = error instanceof SchedulerApiError ? error : new SchedulerApiError('InternalServerException', 500, String(error));
        respond(response, apiError.statusCode, { Message: apiError.message }, apiError.type);
      },
    );
  });
  const endpoint = await listenOnLoopback(server, options.port);
  return {
    endpoint,
    close: async () => {
      closed = true;
      for (const armed of schedules.values()) clearTimeout(armed.timer);
      await Promise.allSettled([...running]);
      await closeServer(server);
    },
  };
}

interface SchedulerActions {
  create(name: string, body: Record<string, unknown>): object;
  get(name: string, groupName: string): object;
  delete(name: string, groupName: string): object;
}

async function route(request: IncomingMessage, actions: SchedulerActions): Promise<object> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const match = /^\/schedules\/([^/]+)$/.exec(url.pathname);
  if (!match) throw new SchedulerApiError('UnknownOperationException', 404, `No local operation for ${request.method} ${url.pathname}`);
  const name = decodeURIComponent(match[1]!);
  const groupName = url.searchParams.get('groupName') ?? 'default';
  switch (request.method) {
    case 'POST':
      return actions.create(name, await readJsonBody(request, () => new SchedulerApiError('ValidationException', 400, 'Request body is not JSON')));
    case 'GET':
      return actions.get(name, groupName);
    case 'DELETE':
      return actions.delete(name, groupName);
    default:
      throw new SchedulerApiError('UnknownOperationException', 404, `No local operation for ${request.method} ${url.pathname}`);
  }
}

function validCreateRequest(name: string, groupName: string, body: Record<string, unknown>, arn: string, now: number): StoredSchedule {
  const invalid = (message: string) => new SchedulerApiError('ValidationException', 400, message);
  if (!SCHEDULE_NAME.test(name)) throw invalid(`Name ${name} must be 1-64 characters of 0-9 a-z A-Z - _ .`);
  const expression = body.ScheduleExpression;
  if (typeof expression !== 'string') throw invalid('ScheduleExpression is required');
  const timeZone = body.ScheduleExpressionTimezone ?? 'UTC';
  if (typeof timeZone !== 'string' || !isSupportedTimeZone(timeZone)) throw invalid(`Invalid ScheduleExpressionTimezone ${String(timeZone)}`);
  const window = body.FlexibleTimeWindow as StoredSchedule['FlexibleTimeWindow'] | undefined;
  if (window?.Mode !== 'OFF' && window?.Mode !== 'FLEXIBLE') throw invalid('FlexibleTimeWindow.Mode must be OFF or FLEXIBLE');
  const target = body.Target as StoredSchedule['Target'] | undefined;
  if (typeof target?.Arn !== 'string' || typeof target.RoleArn !== 'string') throw invalid('Target.Arn and Target.RoleArn are required');
  const state = body.State ?? 'ENABLED';
  if (state !== 'ENABLED' && state !== 'DISABLED') throw invalid('State must be ENABLED or DISABLED');
  return {
    Name: name,
    GroupName: groupName,
    Arn: arn,
    ScheduleExpression: expression,
    ScheduleExpressionTimezone: timeZone,
    State: state,
    ...(typeof body.Description === 'string' ? { Description: body.Description } : {}),
    FlexibleTimeWindow: window,
    Target: target,
    ...(typeof body.ClientToken === 'string' ? { ClientToken: body.ClientToken } : {}),
    CreationDate: now,
  };
}


/** restJson1 errors: the type in x-amzn-errortype, the message in the body. */
function respond(response: ServerResponse, statusCode: number, body: object, errorType?: string): void {
  response
    .writeHead(statusCode, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) })
    .end(JSON.stringify(body));
}
