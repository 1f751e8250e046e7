import * as path from 'node:path';
import { ArnFormat, Duration, Stack, type RemovalPolicy, type Size } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { JobTimeouts } from '../core/delivery';
import { portalSessionCapsEnv, type PortalSessionCaps } from '../core/portal-session-caps';
import { ENV } from '../core/env-names';
import { LAMBDA_BUNDLING } from './lambda-bundling';
import { acknowledge, wildcardResourceFinding } from './nag';

/** Settings every Lambda of one stage shares. */
export interface FunctionDefaults {
  /** Repository root: handler entries are relative to it, and it holds package-lock.json. */
  readonly sourceRoot: string;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly logLevel: string;
  /** Encrypts the function log groups; the key policy must admit CloudWatch Logs (lib/data.ts). */
  readonly logEncryptionKey?: kms.IKey;
  /** Days a finished job is kept before the table's TTL deletes it; handlers that settle jobs read it. */
  readonly jobRetentionDays?: number;
}

export interface RoboportFunctionProps {
  readonly defaults: FunctionDefaults;
  /** Handler module relative to `defaults.sourceRoot`; it exports `handler`. */
  readonly entry: string;
  readonly description?: string;
  /** @default 10 seconds (API Gateway gives up after 29 s anyway) */
  readonly timeout?: Duration;
  /** @default 512 MiB */
  readonly memorySize?: number;
  /** @default ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** /tmp; @default 512 MiB */
  readonly ephemeralStorageSize?: Size;
  /**
   * Packages installed next to the bundle instead of bundled into it: packages that read files
   * shipped with them (a browser binary). Resolved from package-lock.json.
   */
  readonly nodeModules?: string[];
}

/**
 * Every Roboport Lambda: Node.js 22 on ARM, X-Ray tracing, its own log group with the stage's
 * retention, and an ESM bundle with source maps. The `use*` helpers grant access and set the
 * environment variable the handler reads, so the two never drift apart.
 */
export class RoboportFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: RoboportFunctionProps) {
    const { sourceRoot, logRetention, logRemovalPolicy, logLevel, logEncryptionKey, jobRetentionDays } = props.defaults;
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, { retention: logRetention, removalPolicy: logRemovalPolicy, encryptionKey: logEncryptionKey });
    // Its own role, so that it may write its own log group only (the managed
    // AWSLambdaBasicExecutionRole would let it write every log group of the account).
    const role = new iam.Role(scope, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    super(scope, id, {
      role,
      entry: path.join(sourceRoot, props.entry),
      handler: 'handler',
      projectRoot: sourceRoot,
      depsLockFilePath: path.join(sourceRoot, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      ephemeralStorageSize: props.ephemeralStorageSize,
      tracing: lambda.Tracing.ACTIVE,
      timeout: props.timeout ?? Duration.seconds(10),
      memorySize: props.memorySize ?? 512,
      logGroup,
      environment: {
        [ENV.logLevel]: logLevel,
        ...(jobRetentionDays === undefined ? {} : { [ENV.jobRetentionDays]: String(jobRetentionDays) }),
        // Powertools (functions/shared/observability.ts): one service name per function, one namespace.
        POWERTOOLS_SERVICE_NAME: `roboport-${id}`,
        POWERTOOLS_METRICS_NAMESPACE: 'Roboport',
        POWERTOOLS_LOG_LEVEL: logLevel.toUpperCase(),
      },
      bundling: {
        format: OutputFormat.ESM,
        target: LAMBDA_BUNDLING.target,
        mainFields: [...LAMBDA_BUNDLING.mainFields],
        minify: true,
        sourceMap: true,
        externalModules: [...LAMBDA_BUNDLING.externalModules],
        nodeModules: props.nodeModules,
        banner: LAMBDA_BUNDLING.banner,
      },
    });
    acknowledge(
      this,
      'AwsSolutions-L1',
      'Roboport pins nodejs22.x, the runtime its bundles target and its tests run against (Node 20/22 here); moving to 24 is a deliberate upgrade, not a drift.',
    );
  }

  useJobsTable(table: ITableV2, access: 'read' | 'readWrite'): this {
    return this.useTable(table, access, ENV.jobsTable);
  }

  useItemsTable(table: ITableV2, access: 'read' | 'readWrite'): this {
    return this.useTable(table, access, ENV.itemsTable);
  }

  /** Webhook secrets: read, and written when an owner's first secret is created or rotated. */
  useAccountsTable(table: ITableV2): this {
    return this.useTable(table, 'readWrite', ENV.accountsTable);
  }

  useSchedulesTable(table: ITableV2, access: 'read' | 'readWrite'): this {
    return this.useTable(table, access, ENV.schedulesTable);
  }

  /** Portal session slots, read only (the operations overview) with the caps they are held against. */
  useLeasesTable(table: ITableV2, caps: PortalSessionCaps): this {
    for (const [name, value] of Object.entries(portalSessionCapsEnv(caps))) this.addEnvironment(name, value);
    return this.useTable(table, 'read', ENV.leasesTable);
  }

  /**
   * The robot queue and its DLQ for the operations routes: `inspect` reads both queues' depths and
   * peeks the DLQ (a receive with visibility 0), `redrive` also sends to the robot queue and deletes
   * from the DLQ.
   */
  useRobotQueues(queues: { robot: IQueue; deadLetter: IQueue }, access: 'inspect' | 'redrive'): this {
    queues.robot.grant(this, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl');
    queues.deadLetter.grant(this, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl');
    if (access === 'inspect') {
      queues.deadLetter.grant(this, 'sqs:ReceiveMessage');
      queues.deadLetter.encryptionMasterKey?.grantDecrypt(this);
    } else {
      queues.deadLetter.grantConsumeMessages(this);
      queues.robot.grantSendMessages(this);
    }
    this.addEnvironment(ENV.robotQueueUrl, queues.robot.queueUrl);
    this.addEnvironment(ENV.robotDeadLetterQueueUrl, queues.deadLetter.queueUrl);
    return this;
  }

  private useTable(table: ITableV2, access: 'read' | 'readWrite', envName: string): this {
    if (access === 'read') table.grantReadData(this);
    else table.grantReadWriteData(this);
    this.addEnvironment(envName, table.tableName);
    return this;
  }

  /** Read access for presigning artifact downloads: the URL carries this role's permissions. */
  useArtifactDownloads(bucket: IBucket, urlTtl: Duration): this {
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects('*')] }));
    bucket.encryptionKey?.grantDecrypt(this);
    acknowledge(
      this.role!.node.findChild('DefaultPolicy'),
      wildcardResourceFinding(this, bucket.arnForObjects('*')),
      'Artifacts are keyed by job id, unknown at deploy time; the function may only read them (to presign downloads).',
    );
    this.addEnvironment(ENV.artifactsBucket, bucket.bucketName);
    this.addEnvironment(ENV.artifactUrlTtlSeconds, String(urlTtl.toSeconds()));
    return this;
  }

  /** Downloads, plus writing the job archives (`jobs/<jobId>/all-files.zip`) and nothing else. */
  useArtifactArchives(bucket: IBucket, urlTtl: Duration, archiveName: string): this {
    this.useArtifactDownloads(bucket, urlTtl);
    const archives = bucket.arnForObjects(`jobs/*/${archiveName}`);
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [archives] }));
    bucket.encryptionKey?.grantEncrypt(this);
    acknowledge(this.role!.node.findChild('DefaultPolicy'), wildcardResourceFinding(this, archives), 'One archive per job, keyed by job id, unknown at deploy time; the function may write only archives.');
    return this;
  }

  useStateMachineStart(stateMachine: IStateMachine): this {
    stateMachine.grantStartExecution(this);
    this.addEnvironment(ENV.stateMachineArn, stateMachine.stateMachineArn);
    return this;
  }

  /** The key that signs and verifies the nextToken cursors of listings (core/adapters/dynamo-paging.ts). */
  usePageCursorKey(secret: secretsmanager.ISecret): this {
    secret.grantRead(this);
    this.addEnvironment(ENV.pageCursorKeySecretArn, secret.secretArn);
    return this;
  }

  /**
   * Portal credentials under the robot-secrets prefix (core/credentials.ts): `check` reads their
   * bindings (handlers that create jobs naming credentials), `manage` also writes values, tags and
   * deletes them. Never GetSecretValue: the API cannot read a password back.
   */
  useCredentials(prefix: string, access: 'check' | 'manage'): this {
    const credentials = Stack.of(this).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${prefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const writes = ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource', 'secretsmanager:DeleteSecret'];
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:DescribeSecret', ...(access === 'manage' ? writes : [])], resources: [credentials] }));
    const reason = 'Credentials are named by owner under the stage prefix; Secrets Manager appends a random suffix to every ARN, so the prefix needs a wildcard.';
    const findings = [wildcardResourceFinding(this, credentials)];
    if (access === 'manage') {
      // IAM does not scope ListSecrets to a resource; the handler lists by name prefix.
      this.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:ListSecrets'], resources: ['*'] }));
      findings.push('AwsSolutions-IAM5[Resource::*]');
    }
    for (const finding of findings) acknowledge(this.role!.node.findChild('DefaultPolicy'), finding, reason);
    this.addEnvironment(ENV.robotSecretsPrefix, prefix);
    return this;
  }

  /** For handlers that create jobs: the bound a job gets by default, and the largest it may ask for. */
  useJobTimeouts(timeouts: JobTimeouts): this {
    this.addEnvironment(ENV.jobTimeoutSeconds, String(timeouts.defaultSeconds));
    this.addEnvironment(ENV.jobMaxTimeoutSeconds, String(timeouts.maxSeconds));
    return this;
  }
}
