import * as path from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ENV } from '../core/env-names';

/** Settings every Lambda of one stage shares. */
export interface FunctionDefaults {
  /** Repository root: handler entries are relative to it, and it holds package-lock.json. */
  readonly sourceRoot: string;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly logLevel: string;
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
}

/**
 * Every Roboport Lambda: Node.js 22 on ARM, X-Ray tracing, its own log group with the stage's
 * retention, and an ESM bundle with source maps. The `use*` helpers grant access and set the
 * environment variable the handler reads, so the two never drift apart.
 */
export class RoboportFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: RoboportFunctionProps) {
    const { sourceRoot, logRetention, logRemovalPolicy, logLevel } = props.defaults;
    super(scope, id, {
      entry: path.join(sourceRoot, props.entry),
      handler: 'handler',
      projectRoot: sourceRoot,
      depsLockFilePath: path.join(sourceRoot, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      tracing: lambda.Tracing.ACTIVE,
      timeout: props.timeout ?? Duration.seconds(10),
      memorySize: props.memorySize ?? 512,
      logGroup: new logs.LogGroup(scope, `${id}LogGroup`, { retention: logRetention, removalPolicy: logRemovalPolicy }),
      environment: {
        [ENV.logLevel]: logLevel,
        // Powertools (functions/shared/observability.ts): one service name per function, one namespace.
        POWERTOOLS_SERVICE_NAME: `roboport-${id}`,
        POWERTOOLS_METRICS_NAMESPACE: 'Roboport',
        POWERTOOLS_LOG_LEVEL: logLevel.toUpperCase(),
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        // Ship the SDK versions the tests ran against instead of the runtime's preinstalled ones.
        externalModules: [],
        // CommonJS dependencies bundled into ESM still call require().
        banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
  }

  useJobsTable(table: ITableV2, access: 'read' | 'readWrite'): this {
    if (access === 'read') table.grantReadData(this);
    else table.grantReadWriteData(this);
    this.addEnvironment(ENV.jobsTable, table.tableName);
    return this;
  }

  /** Read access for presigning artifact downloads: the URL carries this role's permissions. */
  useArtifactDownloads(bucket: IBucket, urlTtl: Duration): this {
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects('*')] }));
    this.addEnvironment(ENV.artifactsBucket, bucket.bucketName);
    this.addEnvironment(ENV.artifactUrlTtlSeconds, String(urlTtl.toSeconds()));
    return this;
  }

  useStateMachineStart(stateMachine: IStateMachine): this {
    stateMachine.grantStartExecution(this);
    this.addEnvironment(ENV.stateMachineArn, stateMachine.stateMachineArn);
    return this;
  }
}
