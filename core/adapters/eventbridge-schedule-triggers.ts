import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { triggerInputOf, type Schedule, type ScheduleTriggers } from '../schedules';

export interface EventBridgeTriggerConfig {
  /** Schedule group of the stage (roboport-<stage>); schedules are named by their id inside it. */
  groupName: string;
  /** The run-schedule Lambda. */
  targetArn: string;
  /** Role the Scheduler assumes to invoke the target (and to write to the DLQ). */
  roleArn: string;
  deadLetterQueueArn: string;
}

/** Invocations the Scheduler could not deliver are retried this often within this hour, then parked in the DLQ. */
const RETRY_POLICY = { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 };

/** One EventBridge Scheduler schedule per Roboport schedule. */
export class EventBridgeScheduleTriggers implements ScheduleTriggers {
  constructor(
    private readonly client: SchedulerClient,
    private readonly config: EventBridgeTriggerConfig,
  ) {}

  async create(schedule: Schedule): Promise<void> {
    await this.client.send(
      new CreateScheduleCommand({
        Name: schedule.scheduleId,
        GroupName: this.config.groupName,
        ScheduleExpression: schedule.cron,
        ScheduleExpressionTimezone: schedule.timezone,
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: schedule.enabled ? 'ENABLED' : 'DISABLED',
        Target: {
          Arn: this.config.targetArn,
          RoleArn: this.config.roleArn,
          Input: triggerInputOf(schedule.scheduleId),
          RetryPolicy: RETRY_POLICY,
          DeadLetterConfig: { Arn: this.config.deadLetterQueueArn },
        },
        // An SDK retry of a create that did succeed returns the same schedule instead of a conflict.
        ClientToken: schedule.scheduleId,
      }),
    );
  }

  async delete(scheduleId: string): Promise<void> {
    try {
      await this.client.send(new DeleteScheduleCommand({ Name: scheduleId, GroupName: this.config.groupName }));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }
}
