import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES, SCHEDULER_FUNCTIONS, WORKFLOW_FUNCTIONS } from '../../functions/api/routes';
import type { StageConfig } from '../../lib/config';
import { CLOUDFRONT_WEB_ACL_REGION } from '../../lib/console-edge-stack';
import type { RoboportStage } from '../../lib/roboport-app';
import { RoboportFunction } from '../../lib/roboport-function';
import { actionsOf, allStatements, logicalIdOf, stageConfig, stageStacks, WITH_ACCOUNT_AND_REGION } from './support/cdk';

const ALARM_EMAIL = 'ops@example.com';
const configs: Record<'dev' | 'prod' | 'prodInRegion', StageConfig> = {
  dev: stageConfig('dev'),
  prod: stageConfig('prod'),
  prodInRegion: stageConfig('prod', (settings) => {
    WITH_ACCOUNT_AND_REGION(settings);
    settings.alarms.email = ALARM_EMAIL;
  }),
};
const stages = {} as Record<keyof typeof configs, RoboportStage>;
const templates = {} as Record<keyof typeof configs, Template>;

beforeAll(() => {
  for (const [name, config] of Object.entries(configs) as Array<[keyof typeof configs, StageConfig]>) {
    stages[name] = stageStacks(config);
    templates[name] = Template.fromStack(stages[name].main);
  }
});

/** CDK's own custom-resource handlers (e.g. VPC default security group, bucket emptying). */
const isCdkProvider = (logicalId: string) => logicalId.startsWith('Custom');
/** Statements of Roboport's own policies, without those of CDK's custom-resource handlers. */
const ownStatements = (template: Template) =>
  allStatements(template, (policy) => !policy.Properties.Roles.every((role: { Ref?: string }) => isCdkProvider(role.Ref ?? '')));
const alarmsOf = (template: Template) => Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties);

describe.each(['dev', 'prod'] as const)('RoboportStack %s', (stage) => {
  it('outputs the keys of .roboport/outputs.json that AWS has, plus the machine-client and alarm details', () => {
    const outputs = Object.keys(templates[stage].findOutputs('*'));
    expect(outputs).toEqual(
      expect.arrayContaining([
        'Region',
        'ApiUrl',
        'EventsUrl',
        'UserPoolId',
        'UserPoolClientId',
        'CognitoEndpoint',
        'ConsoleUrl',
        'ArtifactsBucketName',
        'JobsTableName',
        'RobotQueueUrl',
        'RobotDeadLetterQueueUrl',
        'StateMachineArn',
        'MachineClientId',
        'MachineApiKeyId',
        'MachineApiUrl',
        'TokenUrl',
        'AlarmTopicArn',
        'DashboardName',
      ]),
    );
  });

  it('runs every Roboport Lambda on Node.js 24', () => {
    const functions = Object.entries(templates[stage].findResources('AWS::Lambda::Function')).filter(([id]) => !isCdkProvider(id));
    const roboportFunctions = stages[stage].main.node.findAll().filter((c) => c instanceof RoboportFunction);
    expect(functions.map(([id]) => id).sort()).toEqual(roboportFunctions.map(logicalIdOf).sort());
    expect(functions.length).toBeGreaterThanOrEqual(API_ROUTES.length + Object.keys(WORKFLOW_FUNCTIONS).length + Object.keys(SCHEDULER_FUNCTIONS).length);
    for (const [id, fn] of functions) expect(fn.Properties.Runtime, id).toBe('nodejs22.x');
  });

  it("tells the functions the stage's job retention, so that settled jobs get their TTL", () => {
    for (const [id, fn] of Object.entries(templates[stage].findResources('AWS::Lambda::Function')).filter(([id]) => !isCdkProvider(id))) {
      expect(fn.Properties.Environment.Variables.JOB_RETENTION_DAYS, id).toBe(String(configs[stage].jobRetentionDays));
    }
  });

  it('grants no wildcard actions but the KMS ones CDK grants on the stage key', () => {
    const wildcards = ownStatements(templates[stage]).flatMap(actionsOf).filter((action) => action.includes('*'));
    expect([...new Set(wildcards)].sort()).toEqual(['kms:GenerateDataKey*', 'kms:ReEncrypt*']);
  });

  it('grants "*" resources only for actions IAM cannot scope', () => {
    const onStar = ownStatements(templates[stage])
      .filter((statement) => [statement.Resource].flat().includes('*'))
      .flatMap(actionsOf);
    for (const action of onStar) expect(action).toMatch(/^(xray:|states:SendTask|secretsmanager:ListSecrets$|ecr:GetAuthorizationToken$|logs:(Create|Get|Update|Delete|List)LogDeliver|logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$)/);
  });

  it('sends every alarm, and its recovery, to the encrypted alarm topic', () => {
    const topicId = logicalIdOf(stages[stage].main.node.findChild('Observability').node.findChild('AlarmTopic'));
    templates[stage].hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    const alarms = alarmsOf(templates[stage]).filter((alarm) => !/first worker task/.test(alarm.AlarmDescription));
    expect(alarms.length).toBeGreaterThan(10);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions, alarm.AlarmDescription).toEqual([{ Ref: topicId }]);
      expect(alarm.OKActions, alarm.AlarmDescription).toEqual([{ Ref: topicId }]);
    }
  });

  it('alarms on dead letters, jobs left waiting, never-reported jobs, API 5xx, failed executions, a fleet stuck at maximum, Lambda errors and throttles', () => {
    const config = configs[stage];
    const alarm = (description: RegExp) => alarmsOf(templates[stage]).filter((a) => description.test(a.AlarmDescription));
    const robotDlq = logicalIdOf(stages[stage].main.node.findChild('Workflow').node.findChild('RobotDeadLetterQueue'));
    const deadLetters = alarm(/dead-letter queue/).find((a) => JSON.stringify(a.Dimensions).includes(robotDlq));
    expect(deadLetters).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(alarm(/dead-letter queue/).length).toBeGreaterThanOrEqual(2);
    // Visible messages without a break, not the oldest message's age: a running job's message is old too.
    const robotQueue = logicalIdOf(stages[stage].main.node.findChild('Workflow').node.findChild('RobotQueue'));
    expect(alarm(/waited for a worker/)).toEqual([
      expect.objectContaining({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [robotQueue, 'QueueName'] } }],
        Statistic: 'Minimum',
        Period: 60,
        Threshold: 1,
        EvaluationPeriods: config.alarms.oldestQueuedJobSeconds / 60,
      }),
    ]);
    expect(alarmsOf(templates[stage]).filter((a) => a.MetricName === 'ApproximateAgeOfOldestMessage')).toEqual([]);
    expect(alarm(/dropped its message/)).toEqual([
      expect.objectContaining({
        Namespace: 'Roboport',
        MetricName: 'JobsTimedOut',
        Dimensions: expect.arrayContaining([{ Name: 'bound', Value: 'NEVER_REPORTED' }, { Name: 'service', Value: 'roboport' }]),
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      }),
    ]);
    expect(alarm(/server error/)[0]).toMatchObject({ MetricName: '5XXError', Namespace: 'AWS/ApiGateway', Threshold: 1 });
    expect(JSON.stringify(alarm(/executions failed/)[0]?.Metrics)).toContain('ExecutionsFailed');
    expect(alarm(/at its maximum/)[0]).toMatchObject({
      MetricName: 'RunningTaskCount',
      Threshold: config.fleet.maxTasks,
      EvaluationPeriods: config.alarms.fleetAtMaxMinutes,
    });
    // Grouped, at most 10 functions an alarm (CloudWatch's limit of metrics in one alarm), each function in one group.
    const functions = Object.keys(templates[stage].findResources('AWS::Lambda::Function')).filter((id) => !isCdkProvider(id));
    for (const [kind, metricName] of [['failed', 'Errors'], ['was throttled', 'Throttles']] as const) {
      const groups = alarm(new RegExp(`^Lambda .* ${kind}$`));
      const named = groups.flatMap((a) => (a.AlarmDescription as string).replace(/^Lambda /, '').replace(` ${kind}`, '').split(', '));
      expect(named, kind).toHaveLength(functions.length);
      expect(new Set(named).size, kind).toBe(functions.length);
      for (const group of groups) {
        const metrics = (group.Metrics as Array<{ MetricStat?: { Metric: { MetricName: string } } }>).filter((query) => query.MetricStat);
        expect(metrics.length).toBeLessThanOrEqual(10);
        expect(metrics.every((query) => query.MetricStat?.Metric.MetricName === metricName)).toBe(true);
      }
    }
  });

  it('has a dashboard of the job path', () => {
    templates[stage].resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('stage differences', () => {
  it('retains the jobs table and artifacts in prod, destroys them in dev', () => {
    for (const type of ['AWS::DynamoDB::GlobalTable', 'AWS::S3::Bucket']) {
      templates.prod.hasResource(type, { DeletionPolicy: 'Retain' });
      templates.dev.hasResource(type, { DeletionPolicy: 'Delete' });
    }
  });

  it('recovers the jobs table to a point in time in prod only', () => {
    const pitrOf = (name: 'dev' | 'prod') =>
      templates[name].findResources('AWS::DynamoDB::GlobalTable')[logicalIdOf(stages[name].main.node.findChild('Data').node.findChild('JobsTable'))]?.Properties
        .Replicas[0].PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled;
    expect(pitrOf('prod')).toBe(true);
    expect(pitrOf('dev')).toBe(false);
  });

  it('keeps at least one worker warm in prod only', () => {
    const minTasks = (template: Template) =>
      Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalableTarget'))[0]?.Properties.MinCapacity;
    expect(minTasks(templates.prod)).toBeGreaterThanOrEqual(1);
    expect(minTasks(templates.dev)).toBe(0);
  });

  it('subscribes the alarm email of the stage config, if any', () => {
    templates.prodInRegion.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: ALARM_EMAIL });
    templates.prod.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('console WAF', () => {
  it('lives in a us-east-1 edge stack for a stage with account and region elsewhere, attached by cross-region reference', () => {
    const { edge, main } = stages.prodInRegion;
    expect(edge?.region).toBe(CLOUDFRONT_WEB_ACL_REGION);
    expect(main.dependencies).toContain(edge);
    Template.fromStack(edge!).hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      Rules: Match.arrayWith([Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ AggregateKeyType: 'IP' }) } })]),
    });
    const [distribution] = Object.values(templates.prodInRegion.findResources('AWS::CloudFront::Distribution'));
    expect(distribution?.Properties.DistributionConfig.WebACLId).toEqual({
      'Fn::GetStackOutput': expect.objectContaining({ StackName: edge!.stackName, Region: CLOUDFRONT_WEB_ACL_REGION }),
    });
  });

  it('is absent for a stage without account and region (documented in docs/deploy.md)', () => {
    expect(stages.prod.edge).toBeUndefined();
    const [distribution] = Object.values(templates.prod.findResources('AWS::CloudFront::Distribution'));
    expect(distribution?.Properties.DistributionConfig.WebACLId).toBeUndefined();
  });
});
