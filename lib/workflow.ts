import { Duration, Stack } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deliveryTiming, ROBOT_QUEUE_MAX_RECEIVES, ROBOT_QUEUE_RETENTION_SECONDS, TASK_BACKSTOP_SECONDS } from '../core/delivery';
import { ENV } from '../core/env-names';
import { buildJobWorkflowDefinition, DEFAULT_WEBHOOK_RETRY, type JobWorkflowParams } from '../core/workflow-definition';
import { WORKFLOW_FUNCTIONS } from '../functions/api/routes';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';

export interface WorkflowProps {
  readonly jobsTable: ITableV2;
  /** Read by NotifyWebhook for the item counts of the webhook payload. */
  readonly itemsTable: ITableV2;
  /** The owners' webhook secrets NotifyWebhook signs with. */
  readonly accountsTable: ITableV2;
  /** host[:port] the webhook egress guard lets through although private; empty on AWS. */
  readonly egressAllowHosts: readonly string[];
  readonly functionDefaults: FunctionDefaults;
  readonly robot: {
    /** The worker's beat: the robot queue hides a received message for three of them (core/delivery.ts). */
    readonly workerBeatSeconds: number;
    readonly technicalRetry: JobWorkflowParams['technicalRetry'];
    /** Items per chunk, and chunks of one job at once (core/fan-out.ts). */
    readonly fanOut: { readonly chunkSize: number; readonly chunkConcurrency: number };
  };
  /**
   * Encrypts the robot queue and its DLQ.
   * @default SQS-managed encryption
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * The consumer of the robot DLQ (lib/dlq-reprocessor.ts): the DLQ then hides a received dead
   * letter for `visibilityTimeout`, and parks one delivered `maxDeliveries` more times in
   * robotParkedQueue for good.
   * @default nobody consumes the DLQ: dead letters are kept for 14 days
   */
  readonly deadLetterConsumer?: DeadLetterConsumer;
}

export interface DeadLetterConsumer {
  /** Lambda advises 6× the function timeout for an event source queue. */
  readonly visibilityTimeout: Duration;
  readonly maxDeliveries: number;
}

/**
 * The job workflow of core/workflow-definition.ts, deployed from that same definition: it sends
 * each job to the robot queue with a task token, then settles the job with FinalizeJob or FailJob
 * and, for jobs with a callbackUrl, delivers the signed webhook with NotifyWebhook.
 */
export class Workflow extends Construct {
  public readonly robotQueue: sqs.Queue;
  public readonly robotDeadLetterQueue: sqs.Queue;
  /** Dead letters the DLQ consumer could not finish either (with `deadLetterConsumer` only). */
  public readonly robotParkedQueue?: sqs.Queue;
  public readonly planJobFunction: RoboportFunction;
  public readonly finalizeJobFunction: RoboportFunction;
  public readonly failJobFunction: RoboportFunction;
  public readonly notifyWebhookFunction: RoboportFunction;
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const { functionDefaults, robot } = props;

    const encryption = props.encryptionKey
      ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey, dataKeyReuse: Duration.hours(1) }
      : { encryption: sqs.QueueEncryption.SQS_MANAGED };
    const consumer = props.deadLetterConsumer;
    // SQS expires a dead letter by its first enqueue, so all three keep it as long as the robot queue.
    const retentionPeriod = Duration.seconds(ROBOT_QUEUE_RETENTION_SECONDS);
    this.robotParkedQueue = consumer && new sqs.Queue(this, 'RobotParkedQueue', { ...encryption, enforceSSL: true, retentionPeriod });
    this.robotDeadLetterQueue = new sqs.Queue(this, 'RobotDeadLetterQueue', {
      ...encryption,
      enforceSSL: true,
      retentionPeriod,
      ...(consumer && this.robotParkedQueue
        ? {
            visibilityTimeout: consumer.visibilityTimeout,
            // Counted on top of the robot queue's receives: right whether or not the count carries over into the DLQ.
            deadLetterQueue: { queue: this.robotParkedQueue, maxReceiveCount: ROBOT_QUEUE_MAX_RECEIVES + 1 + consumer.maxDeliveries },
          }
        : {}),
    });
    this.robotQueue = new sqs.Queue(this, 'RobotQueue', {
      ...encryption,
      enforceSSL: true,
      // The worker asks for this window on every receive and extends it at every beat; the
      // queue's default only matters to other consumers (the console, a script).
      visibilityTimeout: Duration.seconds(deliveryTiming(robot.workerBeatSeconds).visibilitySeconds),
      // The backstop of the workflow's RunRobot task (core/delivery.ts) is this retention.
      retentionPeriod,
      deadLetterQueue: { queue: this.robotDeadLetterQueue, maxReceiveCount: ROBOT_QUEUE_MAX_RECEIVES },
    });

    this.planJobFunction = new RoboportFunction(this, 'PlanJobFunction', {
      defaults: functionDefaults,
      entry: WORKFLOW_FUNCTIONS.planJob,
      description: "Writes a job's items and splits them into chunks for the fleet",
      // Writes every item of a job once (50,000 at most: core/fan-out.ts) with conditional puts.
      timeout: Duration.minutes(3),
    })
      .useJobsTable(props.jobsTable, 'read')
      .useItemsTable(props.itemsTable, 'readWrite');
    this.planJobFunction.addEnvironment(ENV.jobChunkSize, String(robot.fanOut.chunkSize));

    const settleFunction = (functionId: string, entry: string, description: string) =>
      new RoboportFunction(this, functionId, { defaults: functionDefaults, entry, description }).useJobsTable(props.jobsTable, 'readWrite');
    this.finalizeJobFunction = settleFunction('FinalizeJobFunction', WORKFLOW_FUNCTIONS.finalizeJob, 'Settles a job the robot completed');
    this.failJobFunction = settleFunction('FailJobFunction', WORKFLOW_FUNCTIONS.failJob, 'Settles a job the robot did not complete');
    this.notifyWebhookFunction = new RoboportFunction(this, 'NotifyWebhookFunction', {
      defaults: functionDefaults,
      entry: WORKFLOW_FUNCTIONS.notifyWebhook,
      description: 'POSTs the signed job.finished webhook to the job callbackUrl',
      // A receiver gets 10 s (functions/shared/adapters.ts); the rest covers DNS and DynamoDB.
      timeout: Duration.seconds(20),
    })
      .useJobsTable(props.jobsTable, 'readWrite')
      .useItemsTable(props.itemsTable, 'read')
      .useAccountsTable(props.accountsTable);
    this.notifyWebhookFunction.addEnvironment(ENV.egressAllowHosts, props.egressAllowHosts.join(','));

    const definition = buildJobWorkflowDefinition({
      queueUrl: this.robotQueue.queueUrl,
      planFunctionArn: this.planJobFunction.functionArn,
      chunkConcurrency: robot.fanOut.chunkConcurrency,
      finalizeFunctionArn: this.finalizeJobFunction.functionArn,
      failFunctionArn: this.failJobFunction.functionArn,
      notifyWebhookFunctionArn: this.notifyWebhookFunction.functionArn,
      webhookRetry: DEFAULT_WEBHOOK_RETRY,
      taskBackstopSeconds: TASK_BACKSTOP_SECONDS,
      technicalRetry: robot.technicalRetry,
    });
    this.stateMachine = new sfn.StateMachine(this, 'JobStateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(Stack.of(this).toJsonString(definition)),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'JobStateMachineLogGroup', {
          retention: functionDefaults.logRetention,
          removalPolicy: functionDefaults.logRemovalPolicy,
          encryptionKey: functionDefaults.logEncryptionKey,
        }),
        // Every state transition, so that a stuck job can be followed; without payloads (below).
        level: sfn.LogLevel.ALL,
        // Execution data holds task tokens and job ids only, but tokens do not belong in logs.
        includeExecutionData: false,
      },
    });
    // A definition given as a string is opaque to CDK, so the task permissions are granted here.
    this.robotQueue.grantSendMessages(this.stateMachine);
    this.planJobFunction.grantInvoke(this.stateMachine);
    this.finalizeJobFunction.grantInvoke(this.stateMachine);
    this.failJobFunction.grantInvoke(this.stateMachine);
    this.notifyWebhookFunction.grantInvoke(this.stateMachine);
  }
}
