import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { SCHEDULES_TABLE } from '../../core/table-schema';
import { jobTimeoutsOf } from '../../lib/config';
import { RoboportFunction } from '../../lib/roboport-function';
import { Schedules } from '../../lib/schedules';
import { allowedActionsOf, bareStack, functionDefaults, logicalIdOf, stageConfig, statementsOf, type Statement } from './support/cdk';

const config = stageConfig('dev');
const SCHEDULER_ACTIONS = ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'];
const TABLE_WRITES = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

const ROBOT_SECRETS_PREFIX = 'roboport/dev/robots/';
let stack: Stack;
let schedules: Schedules;
let manageHandler: RoboportFunction;
let readHandler: RoboportFunction;
let template: Template;

function buildSchedules(scope: Stack, removalPolicy: RemovalPolicy): Schedules {
  return new Schedules(scope, 'Schedules', {
    stage: config.stage,
    jobsTable: dynamodb.TableV2.fromTableName(scope, 'JobsTable', 'jobs'),
    stateMachine: sfn.StateMachine.fromStateMachineArn(scope, 'Jobs', 'arn:aws:states:eu-west-1:111122223333:stateMachine:jobs'),
    jobTimeouts: jobTimeoutsOf(config),
    robotSecretsPrefix: ROBOT_SECRETS_PREFIX,
    functionDefaults: functionDefaults(config),
    removalPolicy,
  });
}

beforeAll(() => {
  stack = bareStack();
  schedules = buildSchedules(stack, config.dataRemovalPolicy);
  const handler = (id: string) => new RoboportFunction(stack, id, { defaults: functionDefaults(config), entry: 'functions/api/health.ts' });
  manageHandler = handler('ManageHandler');
  readHandler = handler('ReadHandler');
  schedules.grantApiAccess(manageHandler, 'manage');
  schedules.grantApiAccess(readHandler, 'read');
  template = Template.fromStack(stack);
});

const getAtt = (construct: { node: { defaultChild?: unknown } }, attribute: string) => ({ 'Fn::GetAtt': [logicalIdOf(construct), attribute] });
const environmentOf = (fn: RoboportFunction): Record<string, unknown> =>
  template.findResources('AWS::Lambda::Function')[logicalIdOf(fn)]?.Properties.Environment.Variables;
const statementsWith = (statements: Statement[], action: string) => statements.filter((statement) => [statement.Action].flat().includes(action));

describe('Schedules', () => {
  it('creates the stage’s schedule group', () => {
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'roboport-dev' });
  });

  it('keeps schedules in a table with the owner and admin indexes of core/table-schema', () => {
    const table = template.findResources('AWS::DynamoDB::GlobalTable')[logicalIdOf(schedules.table)];
    expect(table?.Properties.KeySchema).toEqual([{ AttributeName: SCHEDULES_TABLE.partitionKey, KeyType: 'HASH' }]);
    expect(table?.Properties.GlobalSecondaryIndexes.map((index: { IndexName: string }) => index.IndexName).sort()).toEqual(['byCreated', 'byOwner']);
  });

  it('lets the Scheduler role invoke run-schedule only, and write to the DLQ', () => {
    const role = template.findResources('AWS::IAM::Role')[logicalIdOf(schedules.schedulerRole)];
    expect(role?.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, 'aws:SourceArn': getAtt(schedules.group, 'Arn') } },
      }),
    ]);

    const statements = statementsOf(template, schedules.schedulerRole);
    const invoke = statementsWith(statements, 'lambda:InvokeFunction');
    expect(invoke).toEqual([expect.objectContaining({ Action: 'lambda:InvokeFunction', Resource: getAtt(schedules.runScheduleFunction, 'Arn') })]);
    const send = statementsWith(statements, 'sqs:SendMessage');
    expect(send).toEqual([expect.objectContaining({ Resource: getAtt(schedules.deadLetterQueue, 'Arn') })]);
    expect(allowedActionsOf(template, schedules.schedulerRole).filter((action) => !action.startsWith('sqs:') && !action.startsWith('kms:'))).toEqual([
      'lambda:InvokeFunction',
    ]);
  });

  it('parks failed asynchronous runs of run-schedule in the DLQ after two retries', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalIdOf(schedules.runScheduleFunction) },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: getAtt(schedules.deadLetterQueue, 'Arn') } },
    });
  });

  it("gives run-schedule the schedules (read), the jobs with the stage's bounds and the workflow start, and nothing of the Scheduler", () => {
    expect(environmentOf(schedules.runScheduleFunction)).toMatchObject({
      [ENV.schedulesTable]: { Ref: logicalIdOf(schedules.table) },
      [ENV.jobsTable]: 'jobs',
      [ENV.stateMachineArn]: 'arn:aws:states:eu-west-1:111122223333:stateMachine:jobs',
      [ENV.jobTimeoutSeconds]: '900',
      [ENV.jobMaxTimeoutSeconds]: '14400',
    });
    const actions = allowedActionsOf(template, schedules.runScheduleFunction.role!);
    expect(actions).toContain('states:StartExecution');
    expect(actions.filter((action) => action.startsWith('scheduler:') || action === 'iam:PassRole')).toEqual([]);
  });

  it('lets a managing API handler create, get and delete schedules of the stage group and pass the Scheduler role only', () => {
    const statements = statementsOf(template, manageHandler.role!);
    const scheduler = statements.filter((statement) => [statement.Action].flat().some((action) => action.startsWith('scheduler:')));
    expect(scheduler).toHaveLength(1);
    expect([scheduler[0]!.Action].flat().sort()).toEqual(SCHEDULER_ACTIONS);
    expect(JSON.stringify(scheduler[0]!.Resource)).toMatch(/:schedule\/roboport-dev\/\*"/);

    expect(statementsWith(statements, 'iam:PassRole')).toEqual([
      expect.objectContaining({
        Resource: getAtt(schedules.schedulerRole, 'Arn'),
        Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    ]);
    expect(allowedActionsOf(template, manageHandler.role!)).toEqual(expect.arrayContaining(TABLE_WRITES));
    expect(environmentOf(manageHandler)).toMatchObject({
      [ENV.schedulesTable]: { Ref: logicalIdOf(schedules.table) },
      [ENV.scheduleGroupName]: 'roboport-dev',
      [ENV.scheduleTargetArn]: getAtt(schedules.runScheduleFunction, 'Arn'),
      [ENV.schedulerRoleArn]: getAtt(schedules.schedulerRole, 'Arn'),
      [ENV.scheduleDeadLetterQueueArn]: getAtt(schedules.deadLetterQueue, 'Arn'),
      // A new schedule's job is checked against the stage's bounds.
      [ENV.jobTimeoutSeconds]: '900',
      [ENV.jobMaxTimeoutSeconds]: '14400',
    });
  });

  it('lets a reading API handler only read the schedules table', () => {
    const actions = allowedActionsOf(template, readHandler.role!);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
    expect(actions.filter((action) => TABLE_WRITES.includes(action) || action.startsWith('scheduler:') || action === 'iam:PassRole')).toEqual([]);
    expect(environmentOf(readHandler)).not.toHaveProperty(ENV.scheduleGroupName);
    expect(environmentOf(readHandler)).not.toHaveProperty(ENV.jobMaxTimeoutSeconds);
  });

  it('encrypts the DLQ and refuses plain HTTP to it', () => {
    const queue = template.findResources('AWS::SQS::Queue')[logicalIdOf(schedules.deadLetterQueue)];
    expect(queue?.Properties.SqsManagedSseEnabled).toBe(true);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalIdOf(schedules.deadLetterQueue) }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('retains a prod stage’s schedules with point-in-time recovery', () => {
    const prodStack = bareStack();
    const prod = buildSchedules(prodStack, RemovalPolicy.RETAIN);
    const prodTemplate = Template.fromStack(prodStack);
    const table = prodTemplate.findResources('AWS::DynamoDB::GlobalTable')[logicalIdOf(prod.table)];
    expect(table?.DeletionPolicy).toBe('Retain');
    expect(table?.Properties.Replicas[0].PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table?.Properties.Replicas[0].DeletionProtectionEnabled).toBe(true);
  });
});
