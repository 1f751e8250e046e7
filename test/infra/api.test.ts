import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { API_ROUTES } from '../../functions/api/routes';
import { Api } from '../../lib/api';
import { Auth } from '../../lib/auth';
import { Data } from '../../lib/data';
import { Schedules } from '../../lib/schedules';
import { Workflow } from '../../lib/workflow';
import { allowedActionsOf, bareStack, functionDefaults, logicalIdOf, stageConfig, statementsOf } from './support/cdk';

const config = stageConfig('dev');
const TABLE_WRITES = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
const TABLE_READS = ['dynamodb:GetItem', 'dynamodb:Query'];
let api: Api;
let data: Data;
let workflow: Workflow;
let template: Template;

beforeAll(() => {
  const stack = bareStack();
  data = new Data(stack, 'Data', { removalPolicy: config.dataRemovalPolicy, artifactRetention: Duration.days(7) });
  const auth = new Auth(stack, 'Auth', { removalPolicy: config.dataRemovalPolicy });
  workflow = new Workflow(stack, 'Workflow', {
    jobsTable: data.jobsTable,
    itemsTable: data.itemsTable,
    accountsTable: data.accountsTable,
    egressAllowHosts: [],
    functionDefaults: functionDefaults(config),
    robot: config.robot,
  });
  const schedules = new Schedules(stack, 'Schedules', {
    stage: config.stage,
    jobsTable: data.jobsTable,
    stateMachine: workflow.stateMachine,
    functionDefaults: functionDefaults(config),
    removalPolicy: config.dataRemovalPolicy,
  });
  api = new Api(stack, 'Api', {
    userPool: auth.userPool,
    jobsTable: data.jobsTable,
    itemsTable: data.itemsTable,
    accountsTable: data.accountsTable,
    artifactsBucket: data.artifactsBucket,
    stateMachine: workflow.stateMachine,
    schedules,
    functionDefaults: functionDefaults(config),
    artifactUrlTtl: Duration.seconds(config.artifactUrlTtlSeconds),
  });
  template = Template.fromStack(stack);
});

/** "GET /jobs/{jobId}" for a method, by walking its resource up to the API root. */
function routeOf(method: Record<string, any>): string {
  const resources = template.findResources('AWS::ApiGateway::Resource');
  const segments: string[] = [];
  for (let resource = resources[method.Properties.ResourceId.Ref]; resource; resource = resources[resource.Properties.ParentId.Ref]) {
    segments.unshift(resource.Properties.PathPart);
  }
  return `${method.Properties.HttpMethod} /${segments.join('/')}`;
}

const functionProps = (id: string) => template.findResources('AWS::Lambda::Function')[logicalIdOf(api.routeFunctions.get(id)!)]?.Properties;
const actionsOfRoute = (id: string) => allowedActionsOf(template, api.routeFunctions.get(id)!.role!);
/** Whether the route's role may use any of `actions` on `table` (its ARN or its index ARNs). */
const mayOnTable = (id: string, actions: string[], table: { node: { defaultChild?: unknown } }) =>
  statementsOf(template, api.routeFunctions.get(id)!.role!).some(
    (s) => s.Effect === 'Allow' && [s.Action].flat().some((a) => actions.includes(a)) && JSON.stringify(s.Resource).includes(logicalIdOf(table)),
  );

describe('Api', () => {
  it('has one method per route', () => {
    const routes = Object.values(template.findResources('AWS::ApiGateway::Method')).map(routeOf);
    expect(routes.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });

  it('requires the Cognito authorizer on every method except GET /health', () => {
    const authorizerId = Object.keys(template.findResources('AWS::ApiGateway::Authorizer', { Properties: { Type: 'COGNITO_USER_POOLS' } }));
    expect(authorizerId).toHaveLength(1);
    for (const method of Object.values(template.findResources('AWS::ApiGateway::Method'))) {
      const route = routeOf(method);
      if (route === 'GET /health') {
        expect(method.Properties.AuthorizationType, route).toBe('NONE');
      } else {
        expect(method.Properties.AuthorizationType, route).toBe('COGNITO_USER_POOLS');
        expect(method.Properties.AuthorizerId, route).toEqual({ Ref: authorizerId[0] });
      }
    }
  });

  it('runs every route on Node.js 22 on ARM with tracing', () => {
    for (const route of API_ROUTES) {
      expect(functionProps(route.id), route.id).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
      });
    }
  });

  it('lets read-only routes such as GetJob query the table but never write it', () => {
    for (const route of API_ROUTES.filter((r) => r.access.jobsTable === 'read')) {
      const actions = actionsOfRoute(route.id);
      expect(actions, route.id).toContain('dynamodb:Query');
      expect(actions.filter((a) => TABLE_WRITES.includes(a)), route.id).toEqual([]);
    }
    expect(API_ROUTES.find((r) => r.id === 'GetJob')?.access.jobsTable).toBe('read');
  });

  it('lets only the routes that declare it write the tables, read items, read artifacts or start executions', () => {
    for (const route of API_ROUTES) {
      const actions = actionsOfRoute(route.id);
      expect(mayOnTable(route.id, TABLE_WRITES, data.jobsTable), route.id).toBe(route.access.jobsTable === 'readWrite');
      expect(mayOnTable(route.id, TABLE_READS, data.itemsTable), route.id).toBe(route.access.itemsTable !== undefined);
      expect(mayOnTable(route.id, TABLE_WRITES, data.itemsTable), route.id).toBe(false);
      expect(mayOnTable(route.id, [...TABLE_READS, ...TABLE_WRITES], data.accountsTable), route.id).toBe(route.access.accountsTable === 'readWrite');
      expect(actions.includes('s3:GetObject'), route.id).toBe(route.access.artifactsBucket === 'read');
      expect(actions.includes('states:StartExecution'), route.id).toBe(route.access.startExecution === true);
      expect(actions.filter((a) => a.startsWith('s3:') && a !== 's3:GetObject'), route.id).toEqual([]);
    }
  });

  it('scopes StartExecution to the job state machine', () => {
    const statements = statementsOf(template, api.routeFunctions.get('SubmitJob')!.role!);
    const start = statements.find((s) => [s.Action].flat().includes('states:StartExecution'));
    expect(start?.Resource).toEqual({ Ref: logicalIdOf(workflow.stateMachine) });
  });

  it('sets the environment each route reads, with the names of core/env-names.ts', () => {
    const variablesOf = (id: string) => Object.keys(functionProps(id).Environment.Variables);
    expect(variablesOf('GetJob')).toEqual(expect.arrayContaining([ENV.jobsTable, ENV.artifactsBucket, ENV.artifactUrlTtlSeconds]));
    expect(variablesOf('SubmitJob')).toEqual(expect.arrayContaining([ENV.jobsTable, ENV.stateMachineArn]));
    expect(variablesOf('Health')).not.toContain(ENV.jobsTable);
  });
});
