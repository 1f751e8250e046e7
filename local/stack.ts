import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoJobStore } from '../core/adapters/dynamo-job-store';
import { SfnWorkflowStarter } from '../core/adapters/sfn-workflow-starter';
import { ENV } from '../core/env-names';
import { buildJobWorkflowDefinition } from '../core/workflow-definition';
import { WORKFLOW_FUNCTIONS } from '../functions/api/routes';
import { startSandboxSite } from '../sandbox/site';
import { startLocalApi } from './api-gateway';
import { createLocalJwtVerifier, ensureUserPool, startLocalCognito, type LocalUser } from './emulators/cognito';
import { ensureJobsTable, startLocalDynamoDb } from './emulators/dynamodb';
import { startLocalStepFunctions } from './emulators/step-functions';
import { ensureArtifactsBucket, ensureRobotQueue, startLocalSqsS3 } from './emulators/sqs-s3';

/**
 * The whole of Roboport on 127.0.0.1, minus the robot worker (its own process, see start.ts):
 * dynalite, fauxqs (SQS + S3), cognito-local, the job workflow, the API emulation and the
 * sandbox site. Handlers and workflow steps run from the same modules as in Lambda.
 */
export const LOCAL_REGION = 'us-east-1';
const LOCAL_ACCOUNT = '000000000000';
const NAME = 'roboport-local';

export const LOCAL_USERS: readonly LocalUser[] = [
  { username: 'client@roboport.local', email: 'client@roboport.local', password: 'Client-Passw0rd!', groups: ['clients'] },
  { username: 'admin@roboport.local', email: 'admin@roboport.local', password: 'Admin-Passw0rd!', groups: ['admins'] },
];

/** Keys shared with the deployed stack's CloudFormation outputs (lib/roboport-stack.ts). */
export interface LocalOutputs {
  ApiUrl: string;
  UserPoolId: string;
  UserPoolClientId: string;
  CognitoEndpoint: string;
  SandboxUrl: string;
  ArtifactsBucketName: string;
  JobsTableName: string;
  RobotQueueUrl: string;
  RobotDeadLetterQueueUrl: string;
  StateMachineArn: string;
  /** Local only: the Step Functions emulation's endpoint. */
  StepFunctionsEndpoint: string;
  Region: string;
}

export interface LocalStackOptions {
  repoRoot: string;
  /** Where dynalite and cognito-local keep their data. */
  dataDir: string;
  /** Fixed ports for a stable README walk-through; 0 (any free port) for tests. */
  ports: { api: number; sandbox: number; stepFunctions: number; sqsS3: number; dynamodb: number; cognito: number };
  /** Workflow timings; tests shorten them. */
  workflow?: { heartbeatSeconds: number; timeoutSeconds: number; retryIntervalSeconds: number };
}

export interface LocalStack {
  outputs: LocalOutputs;
  /** Environment for processes that play a deployed component (the robot worker). */
  env: Record<string, string>;
  redrivenJobs: number;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne().catch(() => undefined);
  };
  try {
    mkdirSync(path.join(options.dataDir, 'dynamodb'), { recursive: true });
    mkdirSync(path.join(options.dataDir, 'cognito'), { recursive: true });

    const dynamodb = await startLocalDynamoDb({ dataDir: path.join(options.dataDir, 'dynamodb'), port: options.ports.dynamodb });
    closers.push(dynamodb.close);
    const sqsS3 = await startLocalSqsS3({ port: options.ports.sqsS3 });
    closers.push(sqsS3.close);
    const cognito = await startLocalCognito({ dataDir: path.join(options.dataDir, 'cognito'), port: options.ports.cognito });
    closers.push(cognito.close);
    const sandbox = await startSandboxSite(options.ports.sandbox);
    closers.push(sandbox.close);

    const names = { table: `${NAME}-jobs`, bucket: `${NAME}-artifacts`, queue: `${NAME}-robot` };
    const stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${NAME}-jobs`;
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
      AWS_ENDPOINT_URL_SQS: sqsS3.endpoint,
      AWS_ENDPOINT_URL_S3: sqsS3.endpoint,
      AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: cognito.endpoint,
    });

    const sqs = new SQSClient({});
    const dynamo = new DynamoDBClient({});
    await ensureJobsTable(dynamo, names.table);
    const queue = await ensureRobotQueue(sqs, names.queue);
    await ensureArtifactsBucket(new S3Client({ forcePathStyle: true }), names.bucket);
    const pool = await ensureUserPool(new CognitoIdentityProviderClient({}), { users: [...LOCAL_USERS] });

    Object.assign(process.env, {
      [ENV.jobsTable]: names.table,
      [ENV.artifactsBucket]: names.bucket,
      [ENV.robotQueueUrl]: queue.queueUrl,
      [ENV.stateMachineArn]: stateMachineArn,
      [ENV.s3ForcePathStyle]: 'true',
      // The sandbox lives on loopback, which the egress guard refuses unless allowed by name.
      [ENV.egressAllowHosts]: new URL(sandbox.url).host,
    });

    const timings = options.workflow ?? { heartbeatSeconds: 60, timeoutSeconds: 900, retryIntervalSeconds: 2 };
    const functionArn = (name: string) => `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${NAME}-${name}`;
    const lambdaHandlers = {
      [functionArn('finalize-job')]: await loadStep(options.repoRoot, WORKFLOW_FUNCTIONS.finalizeJob),
      [functionArn('fail-job')]: await loadStep(options.repoRoot, WORKFLOW_FUNCTIONS.failJob),
    };
    const stepFunctions = await startLocalStepFunctions({
      definition: buildJobWorkflowDefinition({
        queueUrl: queue.queueUrl,
        finalizeFunctionArn: functionArn('finalize-job'),
        failFunctionArn: functionArn('fail-job'),
        heartbeatSeconds: timings.heartbeatSeconds,
        timeoutSeconds: timings.timeoutSeconds,
        technicalRetry: { maxAttempts: 2, intervalSeconds: timings.retryIntervalSeconds, backoffRate: 2 },
      }),
      stateMachineArn,
      lambdaHandlers,
      sqs,
      port: options.ports.stepFunctions,
    });
    closers.push(stepFunctions.close);
    process.env.AWS_ENDPOINT_URL_SFN = stepFunctions.endpoint;

    const verifier = createLocalJwtVerifier({ cognitoUrl: cognito.endpoint, poolId: pool.poolId, clientId: pool.clientId });
    const api = await startLocalApi({ repoRoot: options.repoRoot, verifyIdToken: (token) => verifier.verify(token), port: options.ports.api });
    closers.push(api.close);

    const redrivenJobs = await redriveUnfinishedJobs(new DynamoJobStore(dynamo, names.table), new SfnWorkflowStarter(new SFNClient({}), stateMachineArn));

    const outputs: LocalOutputs = {
      ApiUrl: api.url,
      UserPoolId: pool.poolId,
      UserPoolClientId: pool.clientId,
      CognitoEndpoint: cognito.endpoint,
      SandboxUrl: sandbox.url,
      ArtifactsBucketName: names.bucket,
      JobsTableName: names.table,
      RobotQueueUrl: queue.queueUrl,
      RobotDeadLetterQueueUrl: queue.deadLetterQueueUrl,
      StateMachineArn: stateMachineArn,
      StepFunctionsEndpoint: stepFunctions.endpoint,
      Region: LOCAL_REGION,
    };
    return { outputs, env: workerEnv(), redrivenJobs, close };
  } catch (error) {
    await close();
    throw error;
  }
}

type StepHandler = (payload: unknown) => Promise<unknown>;

async function loadStep(repoRoot: string, entry: string): Promise<StepHandler> {
  const module = (await import(pathToFileURL(path.join(repoRoot, entry)).href)) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
  return (payload) => module.handler(payload, {});
}

/**
 * Queues and executions live in memory and are gone after a restart, while jobs persist: every job
 * still QUEUED or RUNNING gets a new execution, and the worker picks it up again.
 */
async function redriveUnfinishedJobs(store: DynamoJobStore, workflow: SfnWorkflowStarter): Promise<number> {
  let count = 0;
  for (const status of ['QUEUED', 'RUNNING'] as const) {
    let nextToken: string | undefined;
    do {
      const page = await store.list({ status, limit: 100, ...(nextToken ? { nextToken } : {}) });
      for (const job of page.jobs) {
        await store.setExecutionArn(job.jobId, await workflow.start(job.jobId));
        count++;
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }
  return count;
}

/** What a deployed worker would get from its task definition, pointed at the local endpoints. */
function workerEnv(): Record<string, string> {
  const keys = [
    'AWS_REGION',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_ENDPOINT_URL_DYNAMODB',
    'AWS_ENDPOINT_URL_SQS',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_SFN',
    ENV.jobsTable,
    ENV.artifactsBucket,
    ENV.robotQueueUrl,
    ENV.s3ForcePathStyle,
    ENV.egressAllowHosts,
  ];
  return Object.fromEntries(keys.map((key) => [key, process.env[key] ?? '']));
}
