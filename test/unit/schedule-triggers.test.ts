import { CreateScheduleCommand, DeleteScheduleCommand, ResourceNotFoundException, SchedulerClient, ValidationException } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeScheduleTriggers } from '../../core/adapters/eventbridge-schedule-triggers';
import type { Schedule } from '../../core/schedules';

const scheduler = mockClient(SchedulerClient);
const config = {
  groupName: 'roboport-dev',
  targetArn: 'arn:aws:lambda:eu-west-1:111122223333:function:run-schedule',
  roleArn: 'arn:aws:iam::111122223333:role/scheduler',
  deadLetterQueueArn: 'arn:aws:sqs:eu-west-1:111122223333:schedules-dlq',
};
const triggers = new EventBridgeScheduleTriggers(new SchedulerClient({ region: 'eu-west-1' }), config);
const schedule: Schedule = {
  scheduleId: '6f1c2a4e-0b7d-4c1e-9a53-2f0e8d6b1c11',
  owner: 'alice',
  name: 'Morning',
  robot: 'web-snapshot',
  input: { url: 'https://example.com/' },
  cron: 'cron(0 8 ? * MON-FRI *)',
  timezone: 'Europe/Lisbon',
  enabled: false,
  createdAt: '2026-07-03T07:30:00.000Z',
};

beforeEach(() => scheduler.reset());

describe('EventBridgeScheduleTriggers', () => {
  it('creates one schedule in the stage group that invokes run-schedule with the scheduled time', async () => {
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn' });

    await triggers.create(schedule);

    const input = scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      Name: schedule.scheduleId,
      GroupName: 'roboport-dev',
      ScheduleExpression: 'cron(0 8 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'Europe/Lisbon',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'DISABLED',
      ClientToken: schedule.scheduleId,
      Target: {
        Arn: config.targetArn,
        RoleArn: config.roleArn,
        DeadLetterConfig: { Arn: config.deadLetterQueueArn },
        RetryPolicy: { MaximumRetryAttempts: expect.any(Number), MaximumEventAgeInSeconds: expect.any(Number) },
      },
    });
    expect(JSON.parse(input.Target!.Input!)).toEqual({ scheduleId: schedule.scheduleId, scheduledTime: '<aws.scheduler.scheduled-time>' });
  });

  it('treats a schedule that is already gone as deleted, and passes other errors on', async () => {
    scheduler.on(DeleteScheduleCommand).rejectsOnce(new ResourceNotFoundException({ message: 'gone', Message: 'gone', $metadata: {} }));
    await expect(triggers.delete(schedule.scheduleId)).resolves.toBeUndefined();
    expect(scheduler.commandCalls(DeleteScheduleCommand)[0]!.args[0].input).toEqual({ Name: schedule.scheduleId, GroupName: 'roboport-dev' });

    scheduler.on(DeleteScheduleCommand).rejects(new ValidationException({ message: 'bad', Message: 'bad', $metadata: {} }));
    await expect(triggers.delete(schedule.scheduleId)).rejects.toBeInstanceOf(ValidationException);
  });
});
