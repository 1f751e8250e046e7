import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import type { JobTimeouts } from '../core/delivery';
import { ENV } from '../core/env-names';
import { SCHEDULES_TABLE } from '../core/table-schema';
import { SCHEDULER_FUNCTIONS, type ApiRoute } from '../functions/api/routes';
import { acknowledge } from './nag';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';

export interface SchedulesProps {
  /** Names the schedule group `roboport-<stage>`. */
  readonly stage: string;
  readonly jobsTable: dynamodb.ITableV2;
  readonly stateMachine: IStateMachine;
  /** The stage's job timeoutSeconds default and limit: a schedule's job is checked against them when created and when run. */
  readonly jobTimeouts: JobTimeouts;
  /** A schedule's job is checked against the bindings of the credentials it names (core/credentials.ts). */
  readonly robotSecretsPrefix: string;
  readonly functionDefaults: FunctionDefaults;
  readonly removalPolicy: RemovalPolicy;
  /** The stage's table encryption (Data.tableEncryption). @default AWS managed key */
  readonly tableEncryption?: dynamodb.TableEncryptionV2;
  /** Encrypts the dead-letter queue. @default SQS managed */
  readonly encryptionKey?: kms.IKey;
}

/** Age after which a run that could not be delivered or completed is given up and parked in the DLQ. */
const MAX_RUN_AGE = Duration.hours(1);

/**
 * Recurring jobs (core/schedules.ts): the schedules table, the stage's EventBridge Scheduler
 * group, the run-schedule Lambda every schedule targets, the role the Scheduler assumes to
 * invoke it (that function only) and a DLQ for runs that failed. The API creates one Scheduler
 * schedule per Roboport schedule at run time: `grantApiAccess` gives a route's handler that right.
 *
 * Failed runs end in the DLQ by two ways: the Scheduler parks invocations it could not deliver
 * (retry policy set per schedule by core/adapters/eventbridge-schedule-triggers.ts), and Lambda
 * parks asynchronous invocations whose function kept failing (the on-failure destination).
 */
export class Schedules extends Construct {
  public readonly table: dynamodb.TableV2;
  public readonly group: scheduler.ScheduleGroup;
  public readonly runScheduleFunction: RoboportFunction;
  /** Assumed by EventBridge Scheduler to invoke runScheduleFunction and write to the DLQ. */
  public readonly schedulerRole: iam.Role;
  public readonly deadLetterQueue: sqs.Queue;

  private readonly jobTimeouts: JobTimeouts;

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    this.jobTimeouts = props.jobTimeouts;
    const retained = props.removalPolicy === RemovalPolicy.RETAIN;
    const stringKey = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

    this.table = new dynamodb.TableV2(this, 'SchedulesTable', {
      partitionKey: stringKey(SCHEDULES_TABLE.partitionKey),
      globalSecondaryIndexes: [SCHEDULES_TABLE.byOwnerIndex, SCHEDULES_TABLE.byCreatedIndex].map((index) => ({
        indexName: index.name,
        partitionKey: stringKey(index.partitionKey),
        sortKey: stringKey(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      })),
      billing: dynamodb.Billing.onDemand(),
      encryption: props.tableEncryption ?? dynamodb.TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: retained },
      deletionProtection: retained,
      removalPolicy: props.removalPolicy,
    });

    this.group = new scheduler.ScheduleGroup(this, 'Group', { scheduleGroupName: `roboport-${props.stage}`, removalPolicy: props.removalPolicy });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...(props.encryptionKey
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(this.deadLetterQueue, 'AwsSolutions-SQS3', 'This queue is the dead-letter queue of schedule runs (Scheduler DLQ and Lambda on-failure destination).');

    this.runScheduleFunction = new RoboportFunction(this, 'RunScheduleFunction', {
      defaults: props.functionDefaults,
      entry: SCHEDULER_FUNCTIONS.runSchedule,
      description: 'Submits the job of a schedule when EventBridge Scheduler fires it',
    })
      .useSchedulesTable(this.table, 'read')
      .useJobsTable(props.jobsTable, 'readWrite')
      .useStateMachineStart(props.stateMachine)
      .useJobTimeouts(props.jobTimeouts)
      .useCredentials(props.robotSecretsPrefix, 'check');
    this.runScheduleFunction.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: MAX_RUN_AGE,
      onFailure: new SqsDestination(this.deadLetterQueue),
    });

    const account = Stack.of(this).account;
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'Assumed by EventBridge Scheduler to run Roboport schedules',
      // Only schedules of this account's group may use the role (confused-deputy protection).
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': account, 'aws:SourceArn': this.group.scheduleGroupArn } },
      }),
    });
    this.schedulerRole.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.runScheduleFunction.functionArn] }));
    this.deadLetterQueue.grantSendMessages(this.schedulerRole);
  }

  /** What a route handler needs for its `schedules` access, and the environment it reads. */
  grantApiAccess(handler: RoboportFunction, access: NonNullable<ApiRoute['access']['schedules']>): void {
    handler.useSchedulesTable(this.table, access === 'read' ? 'read' : 'readWrite');
    if (access === 'read') return;
    handler.useJobTimeouts(this.jobTimeouts);
    // Pseudo parameters rather than the stack's env, so that the cdk-nag finding below reads the same in every stage.
    const groupSchedules = `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/${this.group.scheduleGroupName}/*`;
    handler.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'],
        resources: [groupSchedules],
      }),
    );
    acknowledge(
      defaultPolicyOf(handler),
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${this.group.scheduleGroupName}/*]`,
      'Scheduler schedules are named by schedule id at run time; the wildcard stays inside the stage group, and only Create/Get/Delete are allowed.',
    );
    handler.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    handler.addEnvironment(ENV.scheduleGroupName, this.group.scheduleGroupName);
    handler.addEnvironment(ENV.scheduleTargetArn, this.runScheduleFunction.functionArn);
    handler.addEnvironment(ENV.schedulerRoleArn, this.schedulerRole.roleArn);
    handler.addEnvironment(ENV.scheduleDeadLetterQueueArn, this.deadLetterQueue.queueArn);
  }
}

function defaultPolicyOf(fn: RoboportFunction): IConstruct {
  return fn.role!.node.findChild('DefaultPolicy');
}
