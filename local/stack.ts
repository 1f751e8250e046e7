import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoJobStore } from '../core/adapters/dynamo-job-store';
import { pageCursorKeySecretSchema } from '../core/adapters/page-cursor-key';
import { SfnWorkflowStarter } from '../core/adapters/sfn-workflow-starter';
import { ENV } from '../core/env-names';
import type { Job } from '../core/job';
import { SHARED_SECRETS_FOLDER } from '../core/secrets';
import { buildJobWorkflowDefinition, type WebhookRetry } from '../core/workflow-definition';
import { TASK_BACKSTOP_SECONDS } from '../core/delivery';
import { DLQ_REPROCESSOR, SCHEDULER_FUNCTIONS, WORKFLOW_FUNCTIONS } from '../functions/api/routes';
import { startSandboxSite } from '../sandbox/site';
import { consoleConfig } from '../lib/console-settings';
import { startLocalApi } from './api-gateway';
import { startConsoleServer } from './console-server';
import { startDlqConsumer, type SqsBatchHandler } from './dlq-consumer';
import { startLocalEventsServer } from './events-server';
import { createLocalJwtVerifier, ensureUserPool, startLocalCognito } from './emulators/cognito';
import { ensureAccountsTable, ensureItemsTable, ensureJobsTable, ensureLeasesTable, ensurePortalSessionsTable, ensureSchedulesTable, startLocalDynamoDb } from './emulators/dynamodb';
import { startLocalScheduler } from './emulators/scheduler';
import { startLocalStepFunctions } from './emulators/step-functions';
import { ensureArtifactsBucket, LOCAL_S3_ACCESS_KEY, startLocalS3 } from './emulators/s3';
import { ensureRobotQueue, startLocalSqs } from './emulators/sqs';
import { ensureJsonSecret, startLocalSecretsManager } from './emulators/secrets-manager';
import { LOCAL_USERS } from './local-users';
import { startLocalFreightPortal } from './sandbox-portal';

/**
 * The whole of Roboport on 127.0.0.1, minus the robot worker (its own process, see start.ts):
 * dynalite, fauxqs (SQS), s3rver (S3), cognito-local, the Secrets Manager emulation, the job workflow,
 * the API emulation, the sandbox site and the sandbox freight portal. Handlers and workflow
 * steps run from the same modules as in Lambda.
 */
export const LOCAL_REGION = 'us-east-1';
const LOCAL_ACCOUNT = '000000000000';
const NAME = 'roboport-local';

/** Webhook retries within seconds instead of hours, so a failing local receiver is retried while you watch. */
const LOCAL_WEBHOOK_RETRY: WebhookRetry = { maxAttempts: 5, intervalSeconds: 1, backoffRate: 2, maxDelaySeconds: 8 };
/** Chunks of one job that run at once; items per chunk default to JOB_CHUNK_SIZE (tests set it). */
const LOCAL_CHUNK_CONCURRENCY = 4;
const LOCAL_CHUNK_SIZE = 25;
/** Robot jobs may read only the secrets under this prefix. */
const ROBOT_SECRETS_PREFIX = 'roboport/local/robots/';

/** Keys shared with the deployed stack's CloudFormation outputs (lib/roboport-stack.ts). */
export interface LocalOutputs {
  ApiUrl: string;
  UserPoolId: string;
  UserPoolClientId: string;
  CognitoEndpoint: string;
  SandboxUrl: string;
  /** The admin console (console/). */
  ConsoleUrl: string;
  ArtifactsBucketName: string;
  JobsTableName: string;
  /** Kept portal sessions (runtime/portal-sessions.ts), sealed. */
  PortalSessionsTableName: string;
  RobotQueueUrl: string;
  RobotDeadLetterQueueUrl: string;
  StateMachineArn: string;
  /** Local only: the Step Functions emulation's endpoint. */
  StepFunctionsEndpoint: string;
  /** The sandbox freight portal (sandbox/freight-portal.ts) and the secret holding its credentials. */
  PortalUrl: string;
  PortalSecretName: string;
  /** Local only: x-portal-admin header value for the portal's /__admin/* test hooks. */
  PortalAdminToken: string;
  /** Local only: the Secrets Manager emulation's endpoint. */
  SecretsManagerEndpoint: string;
  /** Live job events (WebSocket, core/job-events.ts). */
  EventsUrl: string;
  Region: string;
}

export interface LocalStackOptions {
  repoRoot: string;
  /** Where dynalite, s3rver, cognito-local and the emulations keep their data. */
  dataDir: string;
  /** Fixed ports for a stable README walk-through; 0 (any free port) for tests. */
  ports: { api: number; console: number; sandbox: number; stepFunctions: number; sqs: number; s3: number; dynamodb: number; cognito: number; portal: number; secretsManager: number; events?: number };
  /** Pause before the workflow retries a technical failure; tests shorten it. */
  workflow?: { retryIntervalSeconds: number };
  /** false leaves dead letters in the robot DLQ (for an operator's redrive) instead of reprocessing them; default true. */
  dlqConsumer?: boolean;
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
    const sqsEmulator = await startLocalSqs({ port: options.ports.sqs });
    closers.push(sqsEmulator.close);
    const s3Emulator = await startLocalS3({ dataDir: path.join(options.dataDir, 's3'), port: options.ports.s3 });
    closers.push(s3Emulator.close);
    const cognito = await startLocalCognito({ dataDir: path.join(options.dataDir, 'cognito'), port: options.ports.cognito });
    closers.push(cognito.close);
    const sandbox = await startSandboxSite(options.ports.sandbox);
    closers.push(sandbox.close);
    const secretsManager = await startLocalSecretsManager({ dataFile: path.join(options.dataDir, 'secrets-manager.json'), port: options.ports.secretsManager });
    closers.push(secretsManager.close);

    const names = { table: `${NAME}-jobs`, items: `${NAME}-items`, leases: `${NAME}-leases`, accounts: `${NAME}-accounts`, portalSessions: `${NAME}-portal-sessions`, schedules: `${NAME}-schedules`, bucket: `${NAME}-artifacts`, queue: `${NAME}-robot` };
    const stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${NAME}-jobs`;
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      // The one key s3rver accepts; no other emulator here checks credentials.
      AWS_ACCESS_KEY_ID: LOCAL_S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_ACCESS_KEY,
      // No CloudWatch here: Powertools metrics would only print EMF blobs into the console.
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
      AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
      AWS_ENDPOINT_URL_S3: s3Emulator.endpoint,
      AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: cognito.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    });

    const sqs = new SQSClient({});
    const dynamo = new DynamoDBClient({});
    await ensureJobsTable(dynamo, names.table);
    await ensureItemsTable(dynamo, names.items);
    await ensureLeasesTable(dynamo, names.leases);
    await ensureAccountsTable(dynamo, names.accounts);
    await ensureSchedulesTable(dynamo, names.schedules);
    await ensurePortalSessionsTable(dynamo, names.portalSessions);
    const queue = await ensureRobotQueue(sqs, names.queue);
    await ensureArtifactsBucket(new S3Client({ forcePathStyle: true }), names.bucket);
    const pool = await ensureUserPool(new CognitoIdentityProviderClient({}), { users: [...LOCAL_USERS] });
    const portalSecretName = `${ROBOT_SECRETS_PREFIX}${SHARED_SECRETS_FOLDER}/freight-portal`;
    const { portal, adminToken: portalAdminToken } = await startLocalFreightPortal(new SecretsManagerClient({}), {
      secretName: portalSecretName,
      port: options.ports.portal,
    });
    closers.push(portal.close);
    const pageCursorKeySecretArn = await ensurePageCursorKey(new SecretsManagerClient({}));
    const verifier = createLocalJwtVerifier({ cognitoUrl: cognito.endpoint, poolId: pool.poolId, clientId: pool.clientId });
    // Before any handler module loads: their job stores publish every write here.
    const events = await startLocalEventsServer({ verifyIdToken: (token) => verifier.verify(token), port: options.ports.events ?? 0 });
    closers.push(events.close);

    Object.assign(process.env, {
      [ENV.jobsTable]: names.table,
      [ENV.itemsTable]: names.items,
      [ENV.leasesTable]: names.leases,
      [ENV.accountsTable]: names.accounts,
      [ENV.schedulesTable]: names.schedules,
      [ENV.artifactsBucket]: names.bucket,
      [ENV.robotQueueUrl]: queue.queueUrl,
      [ENV.robotDeadLetterQueueUrl]: queue.deadLetterQueueUrl,
      [ENV.stateMachineArn]: stateMachineArn,
      [ENV.s3ForcePathStyle]: 'true',
      // The sandbox and the portal live on loopback, which the egress guard refuses unless allowed by name.
      [ENV.egressAllowHosts]: [sandbox.url, portal.url].map((url) => new URL(url).host).join(','),
      [ENV.robotSecretsPrefix]: ROBOT_SECRETS_PREFIX,
      [ENV.pageCursorKeySecretArn]: pageCursorKeySecretArn,
      [ENV.portalSessionsTable]: names.portalSessions,
      [ENV.portalSessionKeyFile]: ensurePortalSessionKey(options.dataDir),
      [ENV.jobEventsPublishUrl]: events.publishUrl,
      [ENV.jobEventsPublishKey]: events.publishKey,
    });

    const timings = options.workflow ?? { retryIntervalSeconds: 2 };
    const functionArn = (name: string) => `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${NAME}-${name}`;
    process.env[ENV.jobChunkSize] ??= String(LOCAL_CHUNK_SIZE);
    const lambdaHandlers = {
      [functionArn('plan-job')]: await loadStep(options.repoRoot, WORKFLOW_FUNCTIONS.planJob),
      [functionArn('finalize-job')]: await loadStep(options.repoRoot, WORKFLOW_FUNCTIONS.finalizeJob),
      [functionArn('fail-job')]: await loadStep(options.repoRoot, WORKFLOW_FUNCTIONS.failJob),
      [functionArn('notify-webhook')]: await loadStep(options.repoRoot, WORKFLOW_FUNCTIONS.notifyWebhook),
    };
    const stepFunctions = await startLocalStepFunctions({
      definition: buildJobWorkflowDefinition({
        queueUrl: queue.queueUrl,
        planFunctionArn: functionArn('plan-job'),
        chunkConcurrency: LOCAL_CHUNK_CONCURRENCY,
        finalizeFunctionArn: functionArn('finalize-job'),
        failFunctionArn: functionArn('fail-job'),
        taskBackstopSeconds: TASK_BACKSTOP_SECONDS,
        technicalRetry: { maxAttempts: 2, intervalSeconds: timings.retryIntervalSeconds, backoffRate: 2 },
        notifyWebhookFunctionArn: functionArn('notify-webhook'),
        webhookRetry: LOCAL_WEBHOOK_RETRY,
      }),
      stateMachineArn,
      lambdaHandlers,
      sqs,
      port: options.ports.stepFunctions,
    });
    closers.push(stepFunctions.close);
    process.env.AWS_ENDPOINT_URL_SFN = stepFunctions.endpoint;

    // Schedules run run-schedule, which submits jobs to the workflow; the API handlers need its env.
    const runScheduleArn = functionArn('run-schedule');
    Object.assign(process.env, {
      [ENV.scheduleGroupName]: NAME,
      [ENV.scheduleTargetArn]: runScheduleArn,
      [ENV.schedulerRoleArn]: `arn:aws:iam::${LOCAL_ACCOUNT}:role/${NAME}-scheduler`,
      // Named in each schedule as in AWS; the local scheduler reports failed runs on stderr instead.
      [ENV.scheduleDeadLetterQueueArn]: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${NAME}-schedules-dlq`,
      // One minute instead of five, so that a schedule can be watched firing.
      [ENV.scheduleMinIntervalMinutes]: '1',
    });
    const scheduler = await startLocalScheduler({
      targets: { [runScheduleArn]: await loadStep(options.repoRoot, SCHEDULER_FUNCTIONS.runSchedule) },
      dataFile: path.join(options.dataDir, 'scheduler.json'),
      region: LOCAL_REGION,
      account: LOCAL_ACCOUNT,
      onInvocationError: (name, error) => process.stderr.write(`local scheduler: run of schedule ${name} failed: ${String(error)}\n`),
    });
    closers.push(scheduler.close);
    process.env.AWS_ENDPOINT_URL_SCHEDULER = scheduler.endpoint;

    const adminConsole = await startConsoleServer({ consoleDir: path.join(options.repoRoot, 'console'), port: options.ports.console });
    closers.push(adminConsole.close);
    const api = await startLocalApi({
      repoRoot: options.repoRoot,
      verifyIdToken: (token) => verifier.verify(token),
      port: options.ports.api,
      corsOrigin: adminConsole.url,
    });
    closers.push(api.close);
    adminConsole.configure(
      consoleConfig({ apiUrl: api.url, region: LOCAL_REGION, userPoolClientId: pool.clientId, cognitoEndpoint: cognito.endpoint }),
    );

    // Last: it runs robots against everything above, and closes first.
    const dlqConsumer = options.dlqConsumer === false ? undefined : startDlqConsumer({
      sqs,
      queueUrl: queue.deadLetterQueueUrl,
      queueArn: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${names.queue}-dlq`,
      region: LOCAL_REGION,
      functionName: `${NAME}-dlq-reprocessor`,
      handler: await loadHandler<SqsBatchHandler>(options.repoRoot, DLQ_REPROCESSOR.entry),
      timeoutMs: DLQ_REPROCESSOR.timeoutSeconds * 1000,
      retryDelaySeconds: 5,
      onError: (error) => process.stderr.write(`local DLQ reprocessor: ${String(error)}\n`),
    });
    if (dlqConsumer) closers.push(dlqConsumer.close);

    const redrivenJobs = await redriveUnfinishedJobs(new DynamoJobStore(dynamo, names.table), new SfnWorkflowStarter(new SFNClient({}), stateMachineArn));

    const outputs: LocalOutputs = {
      ApiUrl: api.url,
      UserPoolId: pool.poolId,
      UserPoolClientId: pool.clientId,
      CognitoEndpoint: cognito.endpoint,
      SandboxUrl: sandbox.url,
      ConsoleUrl: adminConsole.url,
      ArtifactsBucketName: names.bucket,
      JobsTableName: names.table,
      PortalSessionsTableName: names.portalSessions,
      RobotQueueUrl: queue.queueUrl,
      RobotDeadLetterQueueUrl: queue.deadLetterQueueUrl,
      StateMachineArn: stateMachineArn,
      StepFunctionsEndpoint: stepFunctions.endpoint,
      PortalUrl: portal.url,
      PortalSecretName: portalSecretName,
      PortalAdminToken: portalAdminToken,
      SecretsManagerEndpoint: secretsManager.endpoint,
      EventsUrl: events.url,
      Region: LOCAL_REGION,
    };
    return { outputs, env: workerEnv(), redrivenJobs, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The key that signs the listings' nextToken cursors: generated on first start, kept in the
 * Secrets Manager emulation's file under the data directory, so cursors outlive a restart as in AWS.
 */
async function ensurePageCursorKey(secrets: SecretsManagerClient): Promise<string> {
  const name = `${NAME}/api/page-cursor-key`;
  await ensureJsonSecret(secrets, name, pageCursorKeySecretSchema, () => ({ key: randomBytes(32).toString('base64url') }));
  const { ARN } = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
  return ARN ?? name;
}

/**
 * The AES key that seals kept portal sessions locally (KMS plays this part in AWS): 32 random bytes
 * generated on first start into the data directory, readable by this user only. Only its path
 * travels (in the environment); the key itself is never printed.
 */
function ensurePortalSessionKey(dataDir: string): string {
  const file = path.join(dataDir, 'portal-session.key');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
  return file;
}

type StepHandler = (payload: unknown) => Promise<unknown>;

async function loadStep(repoRoot: string, entry: string): Promise<StepHandler> {
  const handler = await loadHandler<(event: unknown, context: unknown) => Promise<unknown>>(repoRoot, entry);
  return (payload) => handler(payload, {});
}

/** A Lambda handler module, imported once the environment it reads at load time is set. */
async function loadHandler<Handler>(repoRoot: string, entry: string): Promise<Handler> {
  const module = (await import(pathToFileURL(path.join(repoRoot, entry)).href)) as { handler: Handler };
  return module.handler;
}

/**
 * Queues and executions live in memory and are gone after a restart, while jobs persist: every job
 * still RUNNING or QUEUED gets a new execution (a new task token), and a worker picks it up again.
 * RUNNING jobs first, then QUEUED ones, each oldest first: the queue hands them out about in send
 * order, so work already begun resumes before new work starts. No wait in the queue can fail them
 * (core/delivery.ts), whatever the order.
 */
async function redriveUnfinishedJobs(store: DynamoJobStore, workflow: SfnWorkflowStarter): Promise<number> {
  let count = 0;
  for (const status of ['RUNNING', 'QUEUED'] as const) {
    const jobs: Job[] = [];
    let nextToken: string | undefined;
    do {
      const page = await store.list({ status, limit: 100, ...(nextToken ? { nextToken } : {}) });
      jobs.push(...page.jobs);
      nextToken = page.nextToken;
    } while (nextToken);
    // Listed newest first.
    for (const job of jobs.reverse()) {
      await store.setExecutionArn(job.jobId, await workflow.start(job.jobId));
      count++;
    }
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
    'AWS_ENDPOINT_URL_SECRETS_MANAGER',
    ENV.jobsTable,
    ENV.itemsTable,
    ENV.leasesTable,
    ENV.portalSessionsTable,
    ENV.portalSessionKeyFile,
    ENV.portalSessionTtlSeconds,
    ENV.artifactsBucket,
    ENV.robotQueueUrl,
    ENV.s3ForcePathStyle,
    ENV.egressAllowHosts,
    ENV.robotSecretsPrefix,
    ENV.workerHeartbeatSeconds,
    ENV.jobEventsPublishUrl,
    ENV.jobEventsPublishKey,
  ];
  return Object.fromEntries(keys.map((key) => [key, process.env[key] ?? '']));
}
