import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import type { Data } from '../../lib/data';
import { DlqReprocessor } from '../../lib/dlq-reprocessor';
import type { Workflow } from '../../lib/workflow';
import { PORTAL_SESSION_PURPOSE } from '../../core/table-schema';
import { actionsOf, allowedActionsOf, dataAndWorkflow, functionDefaults, logicalIdOf, sessionKeyStatements, stageConfig, statementsOf } from './support/cdk';

const config = stageConfig('dev');
let data: Data;
let workflow: Workflow;
let reprocessor: DlqReprocessor;
let template: Template;

beforeAll(() => {
  const built = dataAndWorkflow(config, ({ key }) => ({
    functionDefaults: { ...functionDefaults(config), logEncryptionKey: key },
    encryptionKey: key,
    deadLetterConsumer: DlqReprocessor.deadLetterConsumer,
  }));
  ({ data, workflow } = built);
  const stack = built.stack;
  const defaults = { ...functionDefaults(config), logEncryptionKey: data.key };
  reprocessor = new DlqReprocessor(stack, 'DlqReprocessor', {
    deadLetterQueue: workflow.robotDeadLetterQueue,
    jobsTable: data.jobsTable,
    itemsTable: data.itemsTable,
    leasesTable: data.leasesTable,
    portalSessionsTable: data.portalSessionsTable,
    portalSessionKey: data.portalSessionKey,
    portalSessionTtlMinutes: config.portalSessionTtlMinutes,
    accountsTable: data.accountsTable,
    artifactsBucket: data.artifactsBucket,
    robotSecretsPrefix: 'roboport/dev/robots/',
    portalSessions: { default: 2, byHost: { 'portal.example.com': 4 } },
    workerBeatSeconds: config.robot.workerBeatSeconds,
    defaultJobTimeoutSeconds: config.robot.timeoutSeconds,
    egressAllowHosts: [],
    functionDefaults: defaults,
  });
  template = Template.fromStack(stack);
});

const functionProperties = () => template.findResources('AWS::Lambda::Function')[logicalIdOf(reprocessor.function)]?.Properties;

describe('DlqReprocessor', () => {
  it('gives Chromium at least 2 GB of memory and of /tmp, on the architecture of its binary, with time for a whole job', () => {
    const properties = functionProperties();
    expect(properties.MemorySize).toBeGreaterThanOrEqual(2048);
    expect(properties.EphemeralStorage.Size).toBeGreaterThanOrEqual(2048);
    expect(properties.Architectures).toEqual(['x86_64']);
    expect(properties.Timeout).toBe(600);
  });

  it('consumes the robot DLQ one record at a time with partial batch responses', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf(reprocessor.function) },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(workflow.robotDeadLetterQueue), 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('hides a received dead letter for 6 function timeouts, and parks one that fails here too', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    const deadLetterQueue = queues[logicalIdOf(workflow.robotDeadLetterQueue)]?.Properties;
    expect(deadLetterQueue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * functionProperties().Timeout);
    expect(deadLetterQueue.RedrivePolicy.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': [logicalIdOf(workflow.robotParkedQueue!), 'Arn'] });
    // More than the robot queue's receives, which may carry over into the DLQ's count.
    const robotQueue = queues[logicalIdOf(workflow.robotQueue)]?.Properties;
    expect(deadLetterQueue.RedrivePolicy.maxReceiveCount).toBeGreaterThan(robotQueue.RedrivePolicy.maxReceiveCount + 1);
  });

  it("tells the handler where the DLQ, tables and bucket are, and the stage's beat and default job bound", () => {
    const variables = functionProperties().Environment.Variables;
    expect(variables[ENV.robotDeadLetterQueueUrl]).toEqual({ Ref: logicalIdOf(workflow.robotDeadLetterQueue) });
    // The accounts table holds the webhook secrets: a job settled here directly is announced from here.
    for (const name of [ENV.jobsTable, ENV.itemsTable, ENV.leasesTable, ENV.accountsTable, ENV.artifactsBucket]) expect(variables[name]).toBeDefined();
    expect(variables[ENV.robotSecretsPrefix]).toBe('roboport/dev/robots/');
    // The same portal caps as the fleet's: a last attempt counts against the portal like any chunk.
    expect(variables[ENV.portalMaxSessions]).toBe('2');
    expect(variables[ENV.portalMaxSessionsByHost]).toBe('portal.example.com=4');
    expect(variables[ENV.workerHeartbeatSeconds]).toBe('5');
    expect(variables[ENV.jobTimeoutSeconds]).toBe('900');
  });

  it('may consume the DLQ, use the robot tables, put artifacts, read robot secrets by prefix and report to the workflow', () => {
    const role = reprocessor.function.role!;
    const actions = allowedActionsOf(template, role);
    expect(actions).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 's3:PutObject']));
    expect(actions).toEqual(expect.arrayContaining(['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']));
    expect(actions).not.toContain('s3:GetObject');
    expect(actions).not.toContain('s3:DeleteObject');
    const statements = statementsOf(template, role);
    const secretRead = statements.find((statement) => actionsOf(statement).includes('secretsmanager:GetSecretValue'));
    expect(JSON.stringify(secretRead?.Resource)).toContain(':secret:roboport/dev/robots/*');
    const tableWrites = JSON.stringify(statements.filter((statement) => actionsOf(statement).includes('dynamodb:UpdateItem')).map((statement) => statement.Resource));
    for (const table of [data.jobsTable, data.itemsTable, data.leasesTable]) expect(tableWrites).toContain(logicalIdOf(table));
    expect(actions).not.toContain('sqs:SendMessage');
  });

  it('keeps portal sessions like the workers: the sessions table, and the session key only with the sessions\' encryption context', () => {
    const variables = functionProperties().Environment.Variables;
    expect(variables[ENV.portalSessionsTable]).toEqual({ Ref: logicalIdOf(data.portalSessionsTable) });
    expect(variables[ENV.portalSessionKmsKeyArn]).toEqual({ 'Fn::GetAtt': [logicalIdOf(data.portalSessionKey), 'Arn'] });
    expect(variables[ENV.portalSessionTtlSeconds]).toBe(String(config.portalSessionTtlMinutes * 60));
    expect(sessionKeyStatements(template, reprocessor.function.role!, data)).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': [logicalIdOf(data.portalSessionKey), 'Arn'] },
        Condition: { StringEquals: { [`kms:EncryptionContext:${PORTAL_SESSION_PURPOSE.contextKey}`]: PORTAL_SESSION_PURPOSE.value } },
      },
    ]);
  });
});
