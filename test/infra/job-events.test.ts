import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { EVENT_CONNECTIONS_TABLE } from '../../core/table-schema';
import { Data } from '../../lib/data';
import { JobEvents } from '../../lib/job-events';
import { allowedActionsOf, bareStack, functionDefaults, logicalIdOf, stageConfig, statementsOf } from './support/cdk';

const config = stageConfig('dev');
let stack: Stack;
let data: Data;
let events: JobEvents;
let template: Template;

beforeAll(() => {
  stack = bareStack();
  data = new Data(stack, 'Data', { removalPolicy: config.dataRemovalPolicy, artifactRetention: Duration.days(7) });
  const userPool = new cognito.UserPool(stack, 'Pool');
  events = new JobEvents(stack, 'JobEvents', {
    jobsTable: data.jobsTable,
    userPool,
    userPoolClient: userPool.addClient('Client'),
    functionDefaults: functionDefaults(config),
    throttle: config.api.throttle,
    removalPolicy: config.dataRemovalPolicy,
  });
  template = Template.fromStack(stack);
});

const environmentOf = (fn: { node: { defaultChild?: unknown } }): Record<string, unknown> =>
  template.findResources('AWS::Lambda::Function')[logicalIdOf(fn)]?.Properties.Environment.Variables;

describe('JobEvents', () => {
  it('is a WebSocket API routed on $connect, $disconnect and $default to the connections function', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((route) => route.Properties.RouteKey);
    expect(routes.sort()).toEqual(['$connect', '$default', '$disconnect']);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'live', AutoDeploy: true, AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }) });
  });

  it('authorizes $connect (and only it can be) with the Lambda authorizer reading the ID token from ?token=', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
    const authorizerId = Object.keys(template.findResources('AWS::ApiGatewayV2::Authorizer'))[0];
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$connect', AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } });
    expect(Object.keys(environmentOf(events.authorizerFunction))).toEqual(expect.arrayContaining([ENV.userPoolId, ENV.userPoolClientId]));
    // The authorizer reads nothing and writes nothing.
    expect(allowedActionsOf(template, events.authorizerFunction.role!).filter((action) => !action.startsWith('logs:') && !action.startsWith('xray:'))).toEqual([]);
  });

  it('keeps connections in a table with owner and admin indexes and a TTL', () => {
    const table = template.findResources('AWS::DynamoDB::GlobalTable')[logicalIdOf(events.connectionsTable)];
    expect(table?.Properties.KeySchema).toEqual([{ AttributeName: EVENT_CONNECTIONS_TABLE.partitionKey, KeyType: 'HASH' }]);
    expect(table?.Properties.GlobalSecondaryIndexes.map((index: { IndexName: string }) => index.IndexName).sort()).toEqual(['admins', 'byOwner']);
    expect(table?.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });

  it('feeds the fan-out from the jobs table’s stream of new images', () => {
    const jobs = template.findResources('AWS::DynamoDB::GlobalTable')[logicalIdOf(data.jobsTable)];
    expect(jobs?.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_IMAGE' });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf(events.fanOutFunction) },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(data.jobsTable), 'StreamArn'] },
      StartingPosition: 'LATEST',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(Object.keys(environmentOf(events.fanOutFunction))).toEqual(expect.arrayContaining([ENV.eventConnectionsTable, ENV.eventsManagementEndpoint]));
  });

  it('grants least privilege: only the fan-out may post to connections, on this API’s stage; connections are written by the route handler', () => {
    const manage = (role: NonNullable<typeof events.fanOutFunction.role>) => statementsOf(template, role).filter((s) => [s.Action].flat().includes('execute-api:ManageConnections'));
    const [grant, ...more] = manage(events.fanOutFunction.role!);
    expect(more).toEqual([]);
    expect(JSON.stringify(grant?.Resource)).toContain('"/live/*/@connections/*"');
    expect(JSON.stringify(grant?.Resource)).toContain(logicalIdOf(events.webSocketApi));
    expect(manage(events.connectionsFunction.role!)).toEqual([]);
    expect(manage(events.authorizerFunction.role!)).toEqual([]);

    const fanOut = allowedActionsOf(template, events.fanOutFunction.role!);
    expect(fanOut).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator']));
    expect(fanOut).not.toContain('dynamodb:PutItem');
    expect(fanOut).not.toContain('dynamodb:UpdateItem');
    const connections = allowedActionsOf(template, events.connectionsFunction.role!);
    expect(connections).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']));
    expect(connections).not.toContain('dynamodb:Query');
  });
});
