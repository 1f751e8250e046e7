import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { Data } from '../../lib/data';
import { RobotFleet } from '../../lib/robot-fleet';
import { Workflow } from '../../lib/workflow';
import { allowedActionsOf, bareStack, functionDefaults, logicalIdOf, REPO_ROOT, stageConfig, statementsOf } from './support/cdk';

const config = stageConfig('prod');
let fleet: RobotFleet;
let workflow: Workflow;
let data: Data;
let template: Template;

beforeAll(() => {
  const stack = bareStack();
  data = new Data(stack, 'Data', { removalPolicy: config.dataRemovalPolicy, artifactRetention: Duration.days(7) });
  workflow = new Workflow(stack, 'Workflow', {
    jobsTable: data.jobsTable,
    itemsTable: data.itemsTable,
    accountsTable: data.accountsTable,
    egressAllowHosts: [],
    functionDefaults: functionDefaults(config),
    robot: config.robot,
  });
  fleet = new RobotFleet(stack, 'RobotFleet', {
    sourceRoot: REPO_ROOT,
    robotQueue: workflow.robotQueue,
    jobsTable: data.jobsTable,
    itemsTable: data.itemsTable,
    leasesTable: data.leasesTable,
    artifactsBucket: data.artifactsBucket,
    robotSecretsPrefix: 'roboport/prod/robots/',
    portalMaxSessions: 3,
    ...config.fleet,
    workerConcurrency: config.workerConcurrency,
    heartbeatSeconds: config.robot.heartbeatSeconds,
    egressAllowHosts: config.egressAllowHosts,
    logLevel: config.logLevel,
    logRetention: config.logRetentionDays,
    logRemovalPolicy: config.dataRemovalPolicy,
  });
  template = Template.fromStack(stack);
});

describe('RobotFleet', () => {
  it('runs in two AZs behind one NAT gateway, without public IPs', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 4);
    template.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } },
    });
  });

  it('sizes the worker task from the stage config', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: String(config.fleet.cpu), Memory: String(config.fleet.memoryMiB) });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: config.fleet.minTasks,
      MaxCapacity: config.fleet.maxTasks,
    });
  });

  it('gives the worker the environment it reads, heartbeating well within the workflow window', () => {
    const [taskDefinition] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const [container] = taskDefinition?.Properties.ContainerDefinitions;
    const environment = Object.fromEntries(container.Environment.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
    expect(environment[ENV.robotQueueUrl]).toEqual({ Ref: logicalIdOf(workflow.robotQueue) });
    expect(environment[ENV.jobsTable]).toEqual({ Ref: logicalIdOf(data.jobsTable) });
    expect(environment[ENV.artifactsBucket]).toEqual({ Ref: logicalIdOf(data.artifactsBucket) });
    expect(environment[ENV.itemsTable]).toEqual({ Ref: logicalIdOf(data.itemsTable) });
    expect(environment[ENV.leasesTable]).toEqual({ Ref: logicalIdOf(data.leasesTable) });
    expect(environment[ENV.robotSecretsPrefix]).toBe('roboport/prod/robots/');
    expect(environment[ENV.portalMaxSessions]).toBe('3');
    expect(environment[ENV.workerConcurrency]).toBe(String(config.workerConcurrency));
    expect(Number(environment[ENV.workerHeartbeatSeconds])).toBeLessThanOrEqual(config.robot.heartbeatSeconds / 2);
    expect(environment).not.toHaveProperty(ENV.egressAllowHosts);
    expect(container.StopTimeout).toBe(120);
  });

  it('lets the task receive messages from the robot queue only', () => {
    const receive = statementsOf(template, fleet.taskDefinition.taskRole).filter((s) => [s.Action].flat().includes('sqs:ReceiveMessage'));
    expect(receive.flatMap((s) => [s.Resource].flat())).toEqual([{ 'Fn::GetAtt': [logicalIdOf(workflow.robotQueue), 'Arn'] }]);
  });

  it('lets the task report to the workflow, write jobs and put artifacts, nothing more', () => {
    const actions = allowedActionsOf(template, fleet.taskDefinition.taskRole);
    expect(actions).toEqual(
      expect.arrayContaining(['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat', 'dynamodb:UpdateItem', 's3:PutObject']),
    );
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual(['s3:PutObject']);
    expect(actions.filter((a) => a.startsWith('states:') && !a.startsWith('states:SendTask'))).toEqual([]);
    expect(actions).not.toContain('sqs:SendMessage');
  });

  it('lets the task read robot secrets under its prefix only, and write item checkpoints and portal slots', () => {
    const reads = statementsOf(template, fleet.taskDefinition.taskRole).filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(JSON.stringify(reads.flatMap((s) => [s.Resource].flat()))).toContain(':secret:roboport/prod/robots/*');
    expect(allowedActionsOf(template, fleet.taskDefinition.taskRole).filter((a) => a.startsWith('secretsmanager:'))).toEqual(['secretsmanager:GetSecretValue']);
    const tableWrites = statementsOf(template, fleet.taskDefinition.taskRole).filter((s) => [s.Action].flat().includes('dynamodb:PutItem'));
    const tables = JSON.stringify(tableWrites.flatMap((s) => [s.Resource].flat()));
    for (const table of [data.itemsTable, data.leasesTable]) expect(tables).toContain(logicalIdOf(table));
  });

  it('ships the worker logs to a log group with the stage retention', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }) })],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: config.logRetentionDays });
  });
});
