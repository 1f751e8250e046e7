import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { buildJobWorkflowDefinition, type JobWorkflowParams } from '../core/workflow-definition';
import { WORKFLOW_FUNCTIONS } from '../functions/api/routes';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';

export interface WorkflowProps {
  readonly jobsTable: ITableV2;
  readonly functionDefaults: FunctionDefaults;
  readonly robot: Pick<JobWorkflowParams, 'heartbeatSeconds' | 'timeoutSeconds' | 'technicalRetry'>;
}

/** A message received this often without being deleted is parked in the DLQ. */
const MAX_RECEIVE_COUNT = 3;

/**
 * The job workflow of core/workflow-definition.ts, deployed from that same definition: it sends
 * each job to the robot queue with a task token, then settles the job with FinalizeJob or FailJob.
 */
export class Workflow extends Construct {
  public readonly robotQueue: sqs.Queue;
  public readonly robotDeadLetterQueue: sqs.Queue;
  public readonly finalizeJobFunction: RoboportFunction;
  public readonly failJobFunction: RoboportFunction;
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const { functionDefaults, robot } = props;

    this.robotDeadLetterQueue = new sqs.Queue(this, 'RobotDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.robotQueue = new sqs.Queue(this, 'RobotQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The worker extends visibility on every heartbeat; a silent worker loses the message
      // about when the workflow's heartbeat timeout fails the attempt.
      visibilityTimeout: Duration.seconds(robot.heartbeatSeconds),
      deadLetterQueue: { queue: this.robotDeadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    const settleFunction = (functionId: string, entry: string, description: string) =>
      new RoboportFunction(this, functionId, { defaults: functionDefaults, entry, description }).useJobsTable(props.jobsTable, 'readWrite');
    this.finalizeJobFunction = settleFunction('FinalizeJobFunction', WORKFLOW_FUNCTIONS.finalizeJob, 'Settles a job the robot completed');
    this.failJobFunction = settleFunction('FailJobFunction', WORKFLOW_FUNCTIONS.failJob, 'Settles a job the robot did not complete');

    const definition = buildJobWorkflowDefinition({
      queueUrl: this.robotQueue.queueUrl,
      finalizeFunctionArn: this.finalizeJobFunction.functionArn,
      failFunctionArn: this.failJobFunction.functionArn,
      ...robot,
    });
    this.stateMachine = new sfn.StateMachine(this, 'JobStateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(Stack.of(this).toJsonString(definition)),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'JobStateMachineLogGroup', {
          retention: functionDefaults.logRetention,
          removalPolicy: functionDefaults.logRemovalPolicy,
        }),
        level: sfn.LogLevel.ERROR,
        // Execution data holds task tokens and job ids only, but tokens do not belong in logs.
        includeExecutionData: false,
      },
    });
    // A definition given as a string is opaque to CDK, so the task permissions are granted here.
    this.robotQueue.grantSendMessages(this.stateMachine);
    this.finalizeJobFunction.grantInvoke(this.stateMachine);
    this.failJobFunction.grantInvoke(this.stateMachine);
  }
}
