import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { DynamoItemStore } from '../../core/adapters/dynamo-item-store';
import { DynamoJobStore } from '../../core/adapters/dynamo-job-store';
import { DynamoScheduleStore } from '../../core/adapters/dynamo-schedule-store';
import { DynamoWebhookSecretStore } from '../../core/adapters/dynamo-webhook-secret-store';
import { EventBridgeScheduleTriggers } from '../../core/adapters/eventbridge-schedule-triggers';
import { HttpWebhookSender } from '../../core/adapters/http-webhook-sender';
import { S3ArtifactLinks } from '../../core/adapters/s3-artifact-links';
import { SfnWorkflowStarter } from '../../core/adapters/sfn-workflow-starter';
import { intEnv, listEnv, optionalIntEnv, requireEnv } from '../../core/config';
import { DEFAULT_JOB_TIMEOUTS, type JobTimeouts } from '../../core/delivery';
import { ENV } from '../../core/env-names';
import { tracer } from './observability';

/**
 * Adapter factories for handler modules. Call them at module scope: clients are then created
 * once per process and missing configuration fails the cold start, not a request. Endpoints
 * come from the SDK's AWS_ENDPOINT_URL_* variables, which the local stack sets.
 */
let dynamo: DynamoDBClient | undefined;
/** One DynamoDB client per process, however many stores a handler uses. */
const dynamoClient = () => (dynamo ??= tracer.captureAWSv3Client(new DynamoDBClient({})));

export function jobStoreFromEnv(): DynamoJobStore {
  return new DynamoJobStore(dynamoClient(), requireEnv(ENV.jobsTable), optionalIntEnv(ENV.jobRetentionDays));
}

/** The stage's job timeoutSeconds default and limit, for the handlers that create jobs. */
export function jobTimeoutsFromEnv(): JobTimeouts {
  const timeouts = {
    defaultSeconds: intEnv(ENV.jobTimeoutSeconds, DEFAULT_JOB_TIMEOUTS.defaultSeconds),
    maxSeconds: intEnv(ENV.jobMaxTimeoutSeconds, DEFAULT_JOB_TIMEOUTS.maxSeconds),
  };
  if (timeouts.defaultSeconds > timeouts.maxSeconds) {
    throw new Error(`${ENV.jobTimeoutSeconds} (${timeouts.defaultSeconds}) must not exceed ${ENV.jobMaxTimeoutSeconds} (${timeouts.maxSeconds})`);
  }
  return timeouts;
}

export function artifactLinksFromEnv(): S3ArtifactLinks {
  const client = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: process.env[ENV.s3ForcePathStyle] === 'true' }));
  return new S3ArtifactLinks(client, requireEnv(ENV.artifactsBucket), intEnv(ENV.artifactUrlTtlSeconds, 900));
}

export function workflowStarterFromEnv(): SfnWorkflowStarter {
  return new SfnWorkflowStarter(tracer.captureAWSv3Client(new SFNClient({})), requireEnv(ENV.stateMachineArn));
}

export function itemStoreFromEnv(): DynamoItemStore {
  return new DynamoItemStore(dynamoClient(), requireEnv(ENV.itemsTable));
}

export function webhookSecretStoreFromEnv(): DynamoWebhookSecretStore {
  return new DynamoWebhookSecretStore(dynamoClient(), requireEnv(ENV.accountsTable));
}

/** A receiver gets this long to answer; slower ones count as a failed attempt. */
const WEBHOOK_TIMEOUT_MS = 10_000;

export function webhookSenderFromEnv(): HttpWebhookSender {
  return new HttpWebhookSender({ allowHosts: listEnv(ENV.egressAllowHosts), timeoutMs: WEBHOOK_TIMEOUT_MS });
}

export function scheduleStoreFromEnv(): DynamoScheduleStore {
  return new DynamoScheduleStore(dynamoClient(), requireEnv(ENV.schedulesTable));
}

export function scheduleTriggersFromEnv(): EventBridgeScheduleTriggers {
  return new EventBridgeScheduleTriggers(tracer.captureAWSv3Client(new SchedulerClient({})), {
    groupName: requireEnv(ENV.scheduleGroupName),
    targetArn: requireEnv(ENV.scheduleTargetArn),
    roleArn: requireEnv(ENV.schedulerRoleArn),
    deadLetterQueueArn: requireEnv(ENV.scheduleDeadLetterQueueArn),
  });
}
