import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES, SCHEDULER_FUNCTIONS, WORKFLOW_FUNCTIONS } from '../../functions/api/routes';
import type { StageName } from '../../lib/config';
import { RoboportStack } from '../../lib/roboport-stack';
import { actionsOf, allStatements, REPO_ROOT, stageConfig, testApp } from './support/cdk';

const templates = {} as Record<'dev' | 'prod', Template>;

function synth(stage: StageName): Template {
  const stack = new RoboportStack(testApp(), `Roboport-${stage}`, { config: stageConfig(stage), sourceRoot: REPO_ROOT });
  return Template.fromStack(stack);
}

beforeAll(() => {
  templates.dev = synth('dev');
  templates.prod = synth('prod');
});

/** CDK's own custom-resource handlers (e.g. VPC default security group, bucket emptying). */
const isCdkProvider = (logicalId: string) => logicalId.startsWith('Custom');

describe.each(['dev', 'prod'] as const)('RoboportStack %s', (stage) => {
  it('exports what clients and the e2e tests read', () => {
    const outputs = Object.keys(templates[stage].findOutputs('*'));
    expect(outputs).toEqual(
      expect.arrayContaining(['ApiUrl', 'UserPoolId', 'UserPoolClientId', 'ConsoleUrl', 'ArtifactsBucketName', 'JobsTableName', 'RobotQueueUrl', 'StateMachineArn']),
    );
  });

  it('runs every Roboport Lambda on Node.js 22', () => {
    const functions = Object.entries(templates[stage].findResources('AWS::Lambda::Function')).filter(([id]) => !isCdkProvider(id));
    expect(functions).toHaveLength(API_ROUTES.length + Object.keys(WORKFLOW_FUNCTIONS).length + Object.keys(SCHEDULER_FUNCTIONS).length);
    for (const [id, fn] of functions) expect(fn.Properties.Runtime, id).toBe('nodejs22.x');
  });

  it('grants no wildcard actions', () => {
    const wildcards = allStatements(templates[stage]).flatMap(actionsOf).filter((action) => action === '*' || action.endsWith(':*'));
    expect(wildcards).toEqual([]);
  });
});

describe('stage differences', () => {
  it('retains the jobs table and artifacts in prod, destroys them in dev', () => {
    for (const type of ['AWS::DynamoDB::GlobalTable', 'AWS::S3::Bucket']) {
      templates.prod.hasResource(type, { DeletionPolicy: 'Retain' });
      templates.dev.hasResource(type, { DeletionPolicy: 'Delete' });
    }
  });

  it('keeps at least one worker warm in prod only', () => {
    const minTasks = (template: Template) =>
      Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalableTarget'))[0]?.Properties.MinCapacity;
    expect(minTasks(templates.prod)).toBeGreaterThanOrEqual(1);
    expect(minTasks(templates.dev)).toBe(0);
  });
});
