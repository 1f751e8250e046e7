import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoJobStore } from '../../core/adapters/dynamo-job-store';
import { S3ArtifactLinks } from '../../core/adapters/s3-artifact-links';
import { SfnWorkflowStarter } from '../../core/adapters/sfn-workflow-starter';
import { intEnv, requireEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { tracer } from './observability';

/**
 * Adapter factories for handler modules. Call them at module scope: clients are then created
 * once per process and missing configuration fails the cold start, not a request. Endpoints
 * come from the SDK's AWS_ENDPOINT_URL_* variables, which the local stack sets.
 */
export function jobStoreFromEnv(): DynamoJobStore {
  return new DynamoJobStore(tracer.captureAWSv3Client(new DynamoDBClient({})), requireEnv(ENV.jobsTable));
}

export function artifactLinksFromEnv(): S3ArtifactLinks {
  const client = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: process.env[ENV.s3ForcePathStyle] === 'true' }));
  return new S3ArtifactLinks(client, requireEnv(ENV.artifactsBucket), intEnv(ENV.artifactUrlTtlSeconds, 900));
}

export function workflowStarterFromEnv(): SfnWorkflowStarter {
  return new SfnWorkflowStarter(tracer.captureAWSv3Client(new SFNClient({})), requireEnv(ENV.stateMachineArn));
}
