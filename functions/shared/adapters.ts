import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoItemStore } from '../../core/adapters/dynamo-item-store';
import { DynamoJobStore } from '../../core/adapters/dynamo-job-store';
import { DynamoPortalLeaseStore } from '../../core/adapters/dynamo-portal-lease';
import { DynamoScheduleStore } from '../../core/adapters/dynamo-schedule-store';
import { DynamoWebhookSecretStore } from '../../core/adapters/dynamo-webhook-secret-store';
import { PageCursors } from '../../core/adapters/dynamo-paging';
import { EventBridgeScheduleTriggers } from '../../core/adapters/eventbridge-schedule-triggers';
import { jobChangePublisherFromEnv } from '../../core/adapters/http-job-change-publisher';
import { HttpWebhookSender } from '../../core/adapters/http-webhook-sender';
import { secretsManagerPageCursorKey } from '../../core/adapters/page-cursor-key';
import { S3ArchiveFiles } from '../../core/adapters/s3-archive-files';
import { S3ArtifactLinks } from '../../core/adapters/s3-artifact-links';
import { SecretsManagerCredentialStore } from '../../core/adapters/secrets';
import { SfnWorkflowStarter } from '../../core/adapters/sfn-workflow-starter';
import { SqsRobotQueues } from '../../core/adapters/sqs-robot-queues';
import { intEnv, listEnv, optionalIntEnv, requireEnv } from '../../core/config';
import type { CredentialDeps } from '../../core/credentials';
import { DEFAULT_JOB_TIMEOUTS, type JobTimeouts } from '../../core/delivery';
import { ENV } from '../../core/env-names';

/**
 * Adapter factories for handler modules. Call them at module scope: clients are then created
 * once per process and missing configuration fails the cold start, not a request. Endpoints
 * come from the SDK's AWS_ENDPOINT_URL_* variables, which the local stack sets.
 */
let dynamo: DynamoDBClient | undefined;
/** One DynamoDB client per process, however many stores a handler uses. */
const dynamoClient = () => (dynamo ??= new DynamoDBClient({}));
let secretsManager: SecretsManagerClient | undefined;
const secretsManagerClient = () => (secretsManager ??= new SecretsManagerClient({}));

/** What a store needs beyond its table: handlers that serve a listing pass `cursors: pageCursorsFromEnv()`. */
export interface StoreOptions {
  cursors?: PageCursors;
}

export function jobStoreFromEnv({ cursors }: StoreOptions = {}): DynamoJobStore {
  return new DynamoJobStore(dynamoClient(), requireEnv(ENV.jobsTable), optionalIntEnv(ENV.jobRetentionDays), cursors, jobChangePublisherFromEnv());
}

/**
 * Cursors signed with the stage's key (the secret in PAGE_CURSOR_KEY_SECRET_ARN, read on the first
 * listing and kept for the process), so that a nextToken one Lambda instance gave out is honoured by
 * every other, and by nothing else.
 */
export function pageCursorsFromEnv(): PageCursors {
  return new PageCursors(secretsManagerPageCursorKey(secretsManagerClient(), requireEnv(ENV.pageCursorKeySecretArn)));
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

/** Portal credentials (Secrets Manager under the robot-secrets prefix): bindings read, values only written. */
export function credentialDepsFromEnv(): CredentialDeps {
  return {
    store: new SecretsManagerCredentialStore(secretsManagerClient()),
    prefix: requireEnv(ENV.robotSecretsPrefix),
  };
}

let s3: S3Client | undefined;
const s3Client = () => (s3 ??= new S3Client({ forcePathStyle: process.env[ENV.s3ForcePathStyle] === 'true' }));

export function artifactLinksFromEnv(): S3ArtifactLinks {
  return new S3ArtifactLinks(s3Client(), requireEnv(ENV.artifactsBucket), intEnv(ENV.artifactUrlTtlSeconds, 900));
}

/** The artifacts bucket read and written whole (the job archive). */
export function archiveFilesFromEnv(): S3ArchiveFiles {
  return new S3ArchiveFiles(s3Client(), requireEnv(ENV.artifactsBucket));
}

export function workflowStarterFromEnv(): SfnWorkflowStarter {
  return new SfnWorkflowStarter(new SFNClient({}), requireEnv(ENV.stateMachineArn));
}

export function itemStoreFromEnv({ cursors }: StoreOptions = {}): DynamoItemStore {
  return new DynamoItemStore(dynamoClient(), requireEnv(ENV.itemsTable), cursors);
}

export function webhookSecretStoreFromEnv(): DynamoWebhookSecretStore {
  return new DynamoWebhookSecretStore(dynamoClient(), requireEnv(ENV.accountsTable));
}

/** A receiver gets this long to answer; slower ones count as a failed attempt. */
const WEBHOOK_TIMEOUT_MS = 10_000;

export function webhookSenderFromEnv(): HttpWebhookSender {
  return new HttpWebhookSender({ allowHosts: listEnv(ENV.egressAllowHosts), timeoutMs: WEBHOOK_TIMEOUT_MS });
}

export function scheduleStoreFromEnv({ cursors }: StoreOptions = {}): DynamoScheduleStore {
  return new DynamoScheduleStore(dynamoClient(), requireEnv(ENV.schedulesTable), cursors);
}

export function scheduleTriggersFromEnv(): EventBridgeScheduleTriggers {
  return new EventBridgeScheduleTriggers(new SchedulerClient({}), {
    groupName: requireEnv(ENV.scheduleGroupName),
    targetArn: requireEnv(ENV.scheduleTargetArn),
    roleArn: requireEnv(ENV.schedulerRoleArn),
    deadLetterQueueArn: requireEnv(ENV.scheduleDeadLetterQueueArn),
  });
}

/** The robot queue and its DLQ, for the operations routes. */
export function robotQueuesFromEnv(): SqsRobotQueues {
  return new SqsRobotQueues(new SQSClient({}), {
    robot: requireEnv(ENV.robotQueueUrl),
    deadLetter: requireEnv(ENV.robotDeadLetterQueueUrl),
  });
}

/** Portal session slots (read by the operations overview). */
export function portalSlotsFromEnv(): DynamoPortalLeaseStore {
  return new DynamoPortalLeaseStore(dynamoClient(), requireEnv(ENV.leasesTable));
}
