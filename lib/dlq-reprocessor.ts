import { Duration, Size } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../core/env-names';
import { portalSessionCapsEnv, type PortalSessionCaps } from '../core/portal-session-caps';
import { DLQ_REPROCESSOR } from '../functions/api/routes';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';
import { grantRobotRuntimeAccess, portalSessionReuseEnv } from './robot-runtime-access';
import type { DeadLetterConsumer } from './workflow';

export interface DlqReprocessorProps {
  /** The robot queue's DLQ, set up with DlqReprocessor.deadLetterConsumer (lib/workflow.ts). */
  readonly deadLetterQueue: sqs.IQueue;
  readonly jobsTable: ITableV2;
  readonly itemsTable: ITableV2;
  readonly leasesTable: ITableV2;
  /** Kept portal sessions, the key that seals them, and how long one is used after its login. */
  readonly portalSessionsTable: ITableV2;
  readonly portalSessionKey: kms.IKey;
  readonly portalSessionTtlMinutes: number;
  /** Owners' webhook secrets: a job settled here is announced from here. */
  readonly accountsTable: ITableV2;
  readonly artifactsBucket: IBucket;
  readonly robotSecretsPrefix: string;
  /** Sessions all robot runtimes together open against a portal host (the stage's `portalSessions`). */
  readonly portalSessions: PortalSessionCaps;
  /** Seconds between the beats of a last attempt, as the workers beat (core/delivery.ts). */
  readonly workerBeatSeconds: number;
  /** The bound of a job stored without its own timeoutSeconds. */
  readonly defaultJobTimeoutSeconds: number;
  /** host[:port] the egress guard lets through although private; empty on AWS. */
  readonly egressAllowHosts: readonly string[];
  readonly functionDefaults: FunctionDefaults;
}

const TIMEOUT = Duration.seconds(DLQ_REPROCESSOR.timeoutSeconds);

/**
 * The last attempt of a job whose message the worker fleet could not finish
 * (functions/dlq/reprocess.ts): the same robot runtime in Lambda, with @sparticuz/chromium.
 * One dead letter per invocation, partial batch responses; a dead letter that fails here too
 * ends in the workflow's robotParkedQueue (alarmed).
 */
export class DlqReprocessor extends Construct {
  /** How the DLQ must hide and count the dead letters this construct consumes. */
  static readonly deadLetterConsumer: DeadLetterConsumer = { visibilityTimeout: Duration.seconds(6 * DLQ_REPROCESSOR.timeoutSeconds), maxDeliveries: 3 };

  public readonly function: RoboportFunction;

  constructor(scope: Construct, id: string, props: DlqReprocessorProps) {
    super(scope, id);
    this.function = new RoboportFunction(this, 'DlqReprocessorFunction', {
      defaults: props.functionDefaults,
      entry: DLQ_REPROCESSOR.entry,
      description: 'Last attempt, in Lambda, of robot jobs whose messages reached the robot DLQ',
      timeout: TIMEOUT,
      // Chromium renders on ~1.7 vCPU at this size (Lambda's CPU grows with memory).
      memorySize: 3008,
      // @sparticuz/chromium unpacks ~210 MB into /tmp; traces and downloads pass through it too.
      ephemeralStorageSize: Size.mebibytes(2048),
      // The Chromium build of @sparticuz/chromium's npm package is x86-64 only.
      architecture: lambda.Architecture.X86_64,
      // Both read files shipped beside their code (Chromium's brotli archives, Playwright's protocol files).
      nodeModules: ['@sparticuz/chromium', 'playwright-core'],
    })
      .useJobsTable(props.jobsTable, 'readWrite')
      .useItemsTable(props.itemsTable, 'readWrite')
      .useAccountsTable(props.accountsTable);
    grantRobotRuntimeAccess(this.function.role!, props);
    const environment: Record<string, string> = {
      [ENV.leasesTable]: props.leasesTable.tableName,
      ...portalSessionReuseEnv(props),
      [ENV.artifactsBucket]: props.artifactsBucket.bucketName,
      [ENV.robotDeadLetterQueueUrl]: props.deadLetterQueue.queueUrl,
      [ENV.robotSecretsPrefix]: props.robotSecretsPrefix,
      ...portalSessionCapsEnv(props.portalSessions),
      [ENV.workerHeartbeatSeconds]: String(props.workerBeatSeconds),
      [ENV.jobTimeoutSeconds]: String(props.defaultJobTimeoutSeconds),
      ...(props.egressAllowHosts.length > 0 ? { [ENV.egressAllowHosts]: props.egressAllowHosts.join(',') } : {}),
    };
    for (const [name, value] of Object.entries(environment)) this.function.addEnvironment(name, value);

    // Grants consuming the DLQ (receive, delete, change visibility) and decrypting it.
    this.function.addEventSource(
      new SqsEventSource(props.deadLetterQueue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        // Last attempts are rare; a burst of them must not crowd the portals (slots are leased anyway).
        maxConcurrency: 5,
      }),
    );
  }
}
