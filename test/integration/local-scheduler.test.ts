import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ValidationException,
  type CreateScheduleCommandInput,
} from '@aws-sdk/client-scheduler';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import { startLocalScheduler, type LocalScheduler } from '../../local/emulators/scheduler';

const TARGET_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:run-schedule';
const GROUP = 'roboport-test';
const MINUTE = 60_000;

let dataDir: string;
let scheduler: LocalScheduler | undefined;
let client: SchedulerClient;
/** The emulator's clock runs this far ahead of the real one, so a cron minute can be reached at once. */
let clockOffsetMs = 0;
/** Added to the offset at every read of the clock, as if time passed between the emulator's own reads. */
let clockStepMs = 0;
const invocations: Array<Record<string, unknown>> = [];
const failures: string[] = [];

async function start(): Promise<LocalScheduler> {
  const started = await startLocalScheduler({
    targets: {
      [TARGET_ARN]: async (payload) => {
        invocations.push(payload as Record<string, unknown>);
      },
    },
    dataFile: path.join(dataDir, 'scheduler.json'),
    now: () => Date.now() + (clockOffsetMs += clockStepMs),
    onInvocationError: (name) => failures.push(name),
  });
  client = new SchedulerClient({ region: 'us-east-1', endpoint: started.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  return started;
}

const schedule = (name: string, overrides: Partial<CreateScheduleCommandInput> = {}): CreateScheduleCommandInput => ({
  Name: name,
  GroupName: GROUP,
  ScheduleExpression: 'rate(1 minute)',
  ScheduleExpressionTimezone: 'UTC',
  FlexibleTimeWindow: { Mode: 'OFF' },
  Target: { Arn: TARGET_ARN, RoleArn: 'arn:aws:iam::000000000000:role/scheduler', Input: JSON.stringify({ name, scheduledTime: '<aws.scheduler.scheduled-time>' }) },
  ...overrides,
});

const invocationsOf = (name: string) => invocations.filter((payload) => payload.name === name);

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'roboport-scheduler-'));
  scheduler = await start();
});

afterEach(() => {
  clockOffsetMs = 0;
  clockStepMs = 0;
});

afterAll(async () => {
  await scheduler?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('local EventBridge Scheduler', () => {
  it('creates, gets and deletes schedules through the unchanged SDK client', async () => {
    const { ScheduleArn } = await client.send(new CreateScheduleCommand(schedule('crud', { ScheduleExpression: 'cron(0 8 ? * MON-FRI *)', ScheduleExpressionTimezone: 'Europe/Lisbon', ClientToken: 'token-1' })));
    expect(ScheduleArn).toBe(`arn:aws:scheduler:us-east-1:000000000000:schedule/${GROUP}/crud`);

    const got = await client.send(new GetScheduleCommand({ Name: 'crud', GroupName: GROUP }));
    expect(got).toMatchObject({
      Name: 'crud',
      GroupName: GROUP,
      ScheduleExpression: 'cron(0 8 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'Europe/Lisbon',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: TARGET_ARN },
    });
    expect(got.CreationDate).toBeInstanceOf(Date);

    // A retry with the same ClientToken is the same create; another create of the name conflicts.
    await expect(client.send(new CreateScheduleCommand(schedule('crud', { ClientToken: 'token-1' })))).resolves.toMatchObject({ ScheduleArn });
    await expect(client.send(new CreateScheduleCommand(schedule('crud')))).rejects.toBeInstanceOf(ConflictException);
    await expect(client.send(new GetScheduleCommand({ Name: 'crud', GroupName: 'other-group' }))).rejects.toBeInstanceOf(ResourceNotFoundException);

    await client.send(new DeleteScheduleCommand({ Name: 'crud', GroupName: GROUP }));
    await expect(client.send(new GetScheduleCommand({ Name: 'crud', GroupName: GROUP }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(client.send(new DeleteScheduleCommand({ Name: 'crud', GroupName: GROUP }))).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('refuses what EventBridge Scheduler refuses', async () => {
    for (const invalid of [
      schedule('bad-cron', { ScheduleExpression: 'cron(0 8 * * MON *)' }),
      schedule('bad-zone', { ScheduleExpressionTimezone: 'Mars/Olympus' }),
      schedule('bad name!'),
      schedule('no-window', { FlexibleTimeWindow: undefined }),
    ]) {
      await expect(client.send(new CreateScheduleCommand(invalid)), invalid.Name).rejects.toBeInstanceOf(ValidationException);
    }
  });

  it('runs a rate schedule at once, with the scheduled time in the target input', async () => {
    const before = Date.now();
    clockStepMs = 5;
    await client.send(new CreateScheduleCommand(schedule('rate')));

    const [payload] = await pollUntil(() => (invocationsOf('rate').length ? invocationsOf('rate') : undefined), { description: 'the rate schedule to run' });
    const scheduledTime = String(payload!.scheduledTime);
    expect(scheduledTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(scheduledTime)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(Date.parse(scheduledTime)).toBeLessThanOrEqual(Date.now() + clockOffsetMs);
    await client.send(new DeleteScheduleCommand({ Name: 'rate', GroupName: GROUP }));
  });

  it('runs a cron schedule at its minute in its time zone', async () => {
    // Put the emulator's clock 300 ms before the next whole minute, and name that minute in Kolkata time (UTC+5:30).
    const due = Math.ceil((Date.now() + 5_000) / MINUTE) * MINUTE;
    clockOffsetMs = due - 300 - Date.now();
    const kolkata = new Date(due + 5.5 * 60 * MINUTE);
    const cron = `cron(${kolkata.getUTCMinutes()} ${kolkata.getUTCHours()} * * ? *)`;
    await client.send(new CreateScheduleCommand(schedule('cron', { ScheduleExpression: cron, ScheduleExpressionTimezone: 'Asia/Kolkata' })));

    const [payload] = await pollUntil(() => (invocationsOf('cron').length ? invocationsOf('cron') : undefined), { description: 'the cron schedule to run' });
    expect(payload!.scheduledTime).toBe(new Date(due).toISOString().replace('.000Z', 'Z'));
    await client.send(new DeleteScheduleCommand({ Name: 'cron', GroupName: GROUP }));
  });

  it('reports a run whose target is not registered', async () => {
    await client.send(new CreateScheduleCommand(schedule('orphan', { Target: { Arn: `${TARGET_ARN}-missing`, RoleArn: 'arn:aws:iam::000000000000:role/scheduler' } })));
    await pollUntil(() => (failures.includes('orphan') ? true : undefined), { description: 'the failed run to be reported' });
    await client.send(new DeleteScheduleCommand({ Name: 'orphan', GroupName: GROUP }));
  });

  it('arms a timer per enabled schedule, clears it on delete and clears all on close; keeps schedules across a restart', async () => {
    // Runs in 2190 are further away than setTimeout's longest delay: their timers are the ones with that delay.
    const farFuture = (hour: number) => `cron(0 ${hour} 1 1 ? 2190)`;
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    const clearTimer = vi.spyOn(globalThis, 'clearTimeout');
    const longTimers = () => setTimer.mock.results.filter((_, i) => setTimer.mock.calls[i]![1] === 2 ** 31 - 1).map((result) => result.value as unknown);
    const cleared = (timer: unknown) => clearTimer.mock.calls.some(([handle]) => handle === timer);
    try {
      await client.send(new CreateScheduleCommand(schedule('kept', { ScheduleExpression: farFuture(8) })));
      await client.send(new CreateScheduleCommand(schedule('paused', { ScheduleExpression: farFuture(9), State: 'DISABLED' })));
      await client.send(new CreateScheduleCommand(schedule('dropped', { ScheduleExpression: farFuture(10) })));
      const [kept, dropped] = longTimers();
      expect(longTimers()).toHaveLength(2);

      await client.send(new DeleteScheduleCommand({ Name: 'dropped', GroupName: GROUP }));
      expect(cleared(dropped)).toBe(true);
      expect(cleared(kept)).toBe(false);

      await scheduler!.close();
      expect(cleared(kept)).toBe(true);

      scheduler = await start();
      expect(longTimers()).toHaveLength(3);
      await expect(client.send(new GetScheduleCommand({ Name: 'kept', GroupName: GROUP }))).resolves.toMatchObject({ State: 'ENABLED' });
      await expect(client.send(new GetScheduleCommand({ Name: 'paused', GroupName: GROUP }))).resolves.toMatchObject({ State: 'DISABLED' });
      await expect(client.send(new GetScheduleCommand({ Name: 'dropped', GroupName: GROUP }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    } finally {
      setTimer.mockRestore();
      clearTimer.mockRestore();
    }
  });
});
