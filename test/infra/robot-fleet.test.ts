import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import type { Data } from '../../lib/data';
import { RobotFleet } from '../../lib/robot-fleet';
import type { Workflow } from '../../lib/workflow';
import { PORTAL_SESSION_PURPOSE, PORTAL_SESSIONS_TABLE } from '../../core/table-schema';
import { allowedActionsOf, dataAndWorkflow, logicalIdOf, REPO_ROOT, sessionKeyStatements, stageConfig, statementsOf } from './support/cdk';

const config = stageConfig('prod');
let fleet: RobotFleet;
let workflow: Workflow;
let data: Data;
let template: Template;

beforeAll(() => {
  const built = dataAndWorkflow(config);
  ({ data, workflow } = built);
  const stack = built.stack;
  fleet = new RobotFleet(stack, 'RobotFleet', {
    sourceRoot: REPO_ROOT,
    robotQueue: workflow.robotQueue,
    jobsTable: data.jobsTable,
    itemsTable: data.itemsTable,
    leasesTable: data.leasesTable,
    portalSessionsTable: data.portalSessionsTable,
    portalSessionKey: data.portalSessionKey,
    portalSessionTtlMinutes: 45,
    artifactsBucket: data.artifactsBucket,
    robotSecretsPrefix: 'roboport/prod/robots/',
    portalSessions: { default: 3, byHost: { 'portal.example.com': 6, 'legacy.example.org:8443': 1 } },
    ...config.fleet,
    workerConcurrency: config.workerConcurrency,
    pagesPerSession: config.pagesPerSession,
    workerBeatSeconds: config.robot.workerBeatSeconds,
    defaultJobTimeoutSeconds: config.robot.timeoutSeconds,
    egressAllowHosts: config.egressAllowHosts,
    logLevel: config.logLevel,
    logRetention: config.logRetentionDays,
    logRemovalPolicy: config.dataRemovalPolicy,
    logEncryptionKey: data.key,
  });
  template = Template.fromStack(stack);
});

describe('RobotFleet', () => {
  it('runs in two AZs behind one NAT gateway, without public IPs or ECS Exec, with rejected flows logged', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 4);
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED', SecurityGroups: [{ 'Fn::GetAtt': [logicalIdOf(fleet.securityGroup), 'GroupId'] }] } },
      EnableExecuteCommand: false,
    });
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'REJECT' });
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  });

  it('reaches S3, DynamoDB, SQS, Step Functions, Secrets Manager, ECR and Logs through VPC endpoints', () => {
    // "com.amazonaws.<region>.ecr.api" as an Fn::Join: the last part is ".ecr.api".
    const serviceOf = (endpoint: Record<string, any>) => (endpoint.Properties.ServiceName['Fn::Join'][1].at(-1) as string).slice(1);
    const endpoints = Object.values(template.findResources('AWS::EC2::VPCEndpoint'));
    const byType = (type: string) => endpoints.filter((e) => (e.Properties.VpcEndpointType ?? 'Gateway') === type).map(serviceOf).sort();
    expect(byType('Gateway')).toEqual(['dynamodb', 's3']);
    expect(byType('Interface')).toEqual(['ecr.api', 'ecr.dkr', 'logs', 'secretsmanager', 'sqs', 'states']);
    for (const endpoint of endpoints.filter((e) => e.Properties.VpcEndpointType === 'Interface')) expect(endpoint.Properties.PrivateDnsEnabled).toBe(true);
  });

  it('lets the workers out on port 443 only, and into the interface endpoints from the workers only', () => {
    const group = template.findResources('AWS::EC2::SecurityGroup')[logicalIdOf(fleet.securityGroup)];
    expect(group?.Properties.SecurityGroupIngress).toBeUndefined();
    const egress = [
      ...(group?.Properties.SecurityGroupEgress ?? []),
      ...Object.values(template.findResources('AWS::EC2::SecurityGroupEgress'))
        .map((rule) => rule.Properties)
        .filter((rule) => rule.GroupId?.['Fn::GetAtt']?.[0] === logicalIdOf(fleet.securityGroup)),
    ];
    expect(egress.length).toBeGreaterThan(0);
    for (const rule of egress) expect(rule, JSON.stringify(rule)).toMatchObject({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 });
    const endpointIngress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((rule) => rule.Properties);
    expect(endpointIngress).toHaveLength(6);
    for (const rule of endpointIngress) {
      expect(rule).toMatchObject({ FromPort: 443, ToPort: 443, SourceSecurityGroupId: { 'Fn::GetAtt': [logicalIdOf(fleet.securityGroup), 'GroupId'] } });
    }
  });

  it('places tasks on Fargate Spot and on-demand by the stage weights, with a base on demand', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [
        { CapacityProvider: 'FARGATE', Base: config.fleet.onDemandBase, Weight: config.fleet.onDemandWeight },
        { CapacityProvider: 'FARGATE_SPOT', Weight: config.fleet.spotWeight },
      ],
    });
    template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', { CapacityProviders: ['FARGATE', 'FARGATE_SPOT'] });
  });

  it('tracks jobs per running task (metric math) at the worker concurrency, and starts the first task from zero', () => {
    const [policy] = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', { Properties: { PolicyType: 'TargetTrackingScaling' } }));
    const tracking = policy?.Properties.TargetTrackingScalingPolicyConfiguration;
    expect(tracking.TargetValue).toBe(config.workerConcurrency);
    const metrics = tracking.CustomizedMetricSpecification.Metrics as Array<Record<string, any>>;
    expect(metrics.find((m) => m.ReturnData === true)?.Expression).toBe('(FILL(queued, 0) + FILL(running, 0)) / MAX([FILL(tasks, 0), 1])');
    expect(metrics.find((m) => m.Id === 'queued')?.MetricStat.Metric.MetricName).toBe('ApproximateNumberOfMessagesVisible');
    expect(metrics.find((m) => m.Id === 'running')?.MetricStat.Metric.MetricName).toBe('ApproximateNumberOfMessagesNotVisible');
    expect(metrics.find((m) => m.Id === 'tasks')?.MetricStat.Metric).toMatchObject({ Namespace: 'ECS/ContainerInsights', MetricName: 'RunningTaskCount' });

    const [step] = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', { Properties: { PolicyType: 'StepScaling' } }));
    expect(step?.Properties.StepScalingPolicyConfiguration).toMatchObject({ AdjustmentType: 'ExactCapacity', StepAdjustments: [{ ScalingAdjustment: 1, MetricIntervalLowerBound: 0 }] });
    const alarm = Object.values(template.findResources('AWS::CloudWatch::Alarm')).find((a) => JSON.stringify(a.Properties.AlarmActions).includes(Object.keys(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', { Properties: { PolicyType: 'StepScaling' } }))[0]!));
    expect(JSON.stringify(alarm?.Properties.Metrics)).toContain('IF(FILL(tasks, 0) == 0 AND FILL(queued, 0) > 0, 1, 0)');
  });

  it('sizes the worker task from the stage config', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: String(config.fleet.cpu), Memory: String(config.fleet.memoryMiB) });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: config.fleet.minTasks,
      MaxCapacity: config.fleet.maxTasks,
    });
  });

  it("gives the worker the environment it reads, with the stage's beat and default job bound", () => {
    const [taskDefinition] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const [container] = taskDefinition?.Properties.ContainerDefinitions;
    const environment = Object.fromEntries(container.Environment.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
    expect(environment[ENV.robotQueueUrl]).toEqual({ Ref: logicalIdOf(workflow.robotQueue) });
    expect(environment[ENV.jobsTable]).toEqual({ Ref: logicalIdOf(data.jobsTable) });
    expect(environment[ENV.artifactsBucket]).toEqual({ Ref: logicalIdOf(data.artifactsBucket) });
    expect(environment[ENV.itemsTable]).toEqual({ Ref: logicalIdOf(data.itemsTable) });
    expect(environment[ENV.leasesTable]).toEqual({ Ref: logicalIdOf(data.leasesTable) });
    expect(environment[ENV.portalSessionsTable]).toEqual({ Ref: logicalIdOf(data.portalSessionsTable) });
    expect(environment[ENV.portalSessionKmsKeyArn]).toEqual({ 'Fn::GetAtt': [logicalIdOf(data.portalSessionKey), 'Arn'] });
    expect(environment[ENV.portalSessionTtlSeconds]).toBe('2700');
    expect(environment).not.toHaveProperty(ENV.portalSessionKeyFile);
    expect(environment[ENV.robotSecretsPrefix]).toBe('roboport/prod/robots/');
    // The stage's portal session caps, read back by core/portal-session-caps.ts loadPortalSessionCaps.
    expect(environment[ENV.portalMaxSessions]).toBe('3');
    expect(environment[ENV.portalMaxSessionsByHost]).toBe('portal.example.com=6,legacy.example.org:8443=1');
    expect(environment[ENV.workerConcurrency]).toBe(String(config.workerConcurrency));
    expect(environment[ENV.robotPagesPerSession]).toBe(String(config.pagesPerSession));
    expect(environment[ENV.workerHeartbeatSeconds]).toBe('5');
    expect(environment[ENV.jobTimeoutSeconds]).toBe('900');
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

  it('lets a task protect itself from scale-in, within its own cluster only', () => {
    const protection = statementsOf(template, fleet.taskDefinition.taskRole).filter((s) => [s.Action].flat().includes('ecs:UpdateTaskProtection'));
    expect(protection).toHaveLength(1);
    const resource = JSON.stringify(protection[0]!.Resource);
    expect(resource).toContain(':task/');
    expect(resource).toContain(logicalIdOf(fleet.cluster));
    expect(allowedActionsOf(template, fleet.taskDefinition.taskRole).filter((a) => a.startsWith('ecs:')).sort()).toEqual(['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection']);
  });

  it('lets the task read robot secrets under its prefix only, and write item checkpoints and portal slots', () => {
    const reads = statementsOf(template, fleet.taskDefinition.taskRole).filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(JSON.stringify(reads.flatMap((s) => [s.Resource].flat()))).toContain(':secret:roboport/prod/robots/*');
    expect(allowedActionsOf(template, fleet.taskDefinition.taskRole).filter((a) => a.startsWith('secretsmanager:')).sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    const tableWrites = statementsOf(template, fleet.taskDefinition.taskRole).filter((s) => [s.Action].flat().includes('dynamodb:PutItem'));
    const tables = JSON.stringify(tableWrites.flatMap((s) => [s.Resource].flat()));
    for (const table of [data.itemsTable, data.leasesTable, data.portalSessionsTable]) expect(tables).toContain(logicalIdOf(table));
  });

  it('keeps portal sessions in a TTL table, sealed with a rotated key of their own that the task may use only with the sessions\' encryption context', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: PORTAL_SESSIONS_TABLE.partitionKey, KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: PORTAL_SESSIONS_TABLE.ttlAttribute, Enabled: true },
    });
    const key = template.findResources('AWS::KMS::Key')[logicalIdOf(data.portalSessionKey)];
    expect(key?.Properties.EnableKeyRotation).toBe(true);
    expect(logicalIdOf(data.portalSessionKey)).not.toBe(logicalIdOf(data.key));
    expect(sessionKeyStatements(template, fleet.taskDefinition.taskRole, data)).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': [logicalIdOf(data.portalSessionKey), 'Arn'] },
        Condition: { StringEquals: { [`kms:EncryptionContext:${PORTAL_SESSION_PURPOSE.contextKey}`]: PORTAL_SESSION_PURPOSE.value } },
      },
    ]);
  });

  it('ships the worker logs to a log group with the stage retention', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }) })],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: config.logRetentionDays });
  });
});
