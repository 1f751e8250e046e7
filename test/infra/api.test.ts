import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { API_ROUTES } from '../../functions/api/routes';
import { Api, MACHINE_PATH_PREFIX } from '../../lib/api';
import { Auth } from '../../lib/auth';
import { jobTimeoutsOf } from '../../lib/config';
import type { Data } from '../../lib/data';
import { Schedules } from '../../lib/schedules';
import type { Workflow } from '../../lib/workflow';
import { allowedActionsOf, dataAndWorkflow, functionDefaults, logicalIdOf, stageConfig, statementsOf } from './support/cdk';

const config = stageConfig('dev');
const CONSOLE_ORIGIN = 'https://console.example.com';
const TABLE_WRITES = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
const TABLE_READS = ['dynamodb:GetItem', 'dynamodb:Query'];
const ROBOT_SECRETS_PREFIX = 'roboport/dev/robots/';
let api: Api;
let data: Data;
let workflow: Workflow;
let template: Template;

beforeAll(() => {
  const built = dataAndWorkflow(config);
  ({ data, workflow } = built);
  const stack = built.stack;
  const auth = new Auth(stack, 'Auth', { removalPolicy: config.dataRemovalPolicy, domainPrefix: 'roboport-test' });
  const schedules = new Schedules(stack, 'Schedules', {
    stage: config.stage,
    jobsTable: data.jobsTable,
    stateMachine: workflow.stateMachine,
    jobTimeouts: jobTimeoutsOf(config),
    robotSecretsPrefix: ROBOT_SECRETS_PREFIX,
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
    jobTimeouts: jobTimeoutsOf(config),
    robotSecretsPrefix: ROBOT_SECRETS_PREFIX,
    robotQueue: workflow.robotQueue,
    robotDeadLetterQueue: workflow.robotDeadLetterQueue,
    leasesTable: data.leasesTable,
    portalSessions: config.portalSessions,
    schedules,
    functionDefaults: functionDefaults(config),
    artifactUrlTtl: Duration.seconds(config.artifactUrlTtlSeconds),
    corsOrigin: CONSOLE_ORIGIN,
    throttle: config.api.throttle,
    machineClients: {
      readScope: auth.scopes.read,
      writeScope: auth.scopes.write,
      throttle: config.api.machineClientThrottle,
      dailyQuota: config.api.machineClientDailyQuota,
    },
    wafRateLimitPer5Minutes: config.api.wafRateLimitPer5Minutes,
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

const methods = () => Object.values(template.findResources('AWS::ApiGateway::Method'));
const isPreflight = (method: Record<string, any>) => method.Properties.HttpMethod === 'OPTIONS';
const isMachine = (method: Record<string, any>) => routeOf(method).split(' ')[1]!.startsWith(`${MACHINE_PATH_PREFIX}/`);
const methodOf = (route: string) => methods().find((method) => routeOf(method) === route)!;

describe('Api', () => {
  it('has one method per route for people, and one below /machine per authorized route', () => {
    const routes = methods().filter((m) => !isPreflight(m) && !isMachine(m)).map(routeOf);
    expect(routes.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    const machineRoutes = methods().filter((m) => !isPreflight(m) && isMachine(m)).map(routeOf);
    const authorized = API_ROUTES.filter((route) => route.authorized);
    expect(machineRoutes.sort()).toEqual(authorized.map((route) => `${route.method} ${MACHINE_PATH_PREFIX}${route.path}`).sort());
  });

  it('requires the Cognito authorizer on every method except GET /health, GET /openapi.json and CORS preflights', () => {
    const authorizerId = Object.keys(template.findResources('AWS::ApiGateway::Authorizer', { Properties: { Type: 'COGNITO_USER_POOLS' } }));
    expect(authorizerId).toHaveLength(1);
    for (const method of methods()) {
      const route = routeOf(method);
      if (route === 'GET /health' || route === 'GET /openapi.json' || isPreflight(method)) {
        expect(method.Properties.AuthorizationType, route).toBe('NONE');
        expect(method.Properties.Integration.Type, route).toBe(isPreflight(method) ? 'MOCK' : 'AWS_PROXY');
      } else {
        expect(method.Properties.AuthorizationType, route).toBe('COGNITO_USER_POOLS');
        expect(method.Properties.AuthorizerId, route).toEqual({ Ref: authorizerId[0] });
      }
    }
  });

  it('serves the OpenAPI document publicly at GET /openapi.json from a function that reads no data', () => {
    const method = methodOf('GET /openapi.json');
    expect(method.Properties.AuthorizationType).toBe('NONE');
    expect(method.Properties.Integration.Type).toBe('AWS_PROXY');
    expect(JSON.stringify(method.Properties.Integration.Uri)).toContain(logicalIdOf(api.routeFunctions.get('OpenApi')!));
    expect(methods().some((candidate) => routeOf(candidate) === `GET ${MACHINE_PATH_PREFIX}/openapi.json`)).toBe(false);
    expect(actionsOfRoute('OpenApi').filter((action) => !action.startsWith('xray:') && !action.startsWith('logs:'))).toEqual([]);
  });

  it('lets machine methods accept only access tokens with the route scope, plus an API key', () => {
    for (const method of methods().filter((m) => !isPreflight(m))) {
      const route = routeOf(method);
      const scope = method.Properties.HttpMethod === 'GET' ? 'roboport/jobs.read' : 'roboport/jobs.write';
      expect(method.Properties.AuthorizationScopes, route).toEqual(isMachine(method) ? [scope] : undefined);
      expect(method.Properties.ApiKeyRequired ?? false, route).toBe(isMachine(method));
    }
  });

  it('throttles and meters machine clients per API key with a usage plan on the stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: config.api.machineClientThrottle.rateLimit, BurstLimit: config.api.machineClientThrottle.burstLimit },
      Quota: { Limit: config.api.machineClientDailyQuota, Period: 'DAY' },
      ApiStages: [Match.objectLike({ ApiId: { Ref: logicalIdOf(api.restApi) } })],
    });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', { KeyType: 'API_KEY', KeyId: { Ref: logicalIdOf(api.machineClientApiKey) } });
  });

  it('throttles every method of the stage, logs errors without bodies and writes JSON access logs', () => {
    const [stage] = Object.values(template.findResources('AWS::ApiGateway::Stage'));
    expect(stage?.Properties.MethodSettings).toEqual([
      expect.objectContaining({
        HttpMethod: '*',
        ResourcePath: '/*',
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        ThrottlingRateLimit: config.api.throttle.rateLimit,
        ThrottlingBurstLimit: config.api.throttle.burstLimit,
      }),
    ]);
    expect(JSON.parse(stage?.Properties.AccessLogSetting.Format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
    expect(stage?.Properties.TracingEnabled).toBe(true);
  });

  it('puts the stage behind a WAF web ACL with managed rule groups and a per-IP rate limit', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      WebACLArn: { 'Fn::GetAtt': [logicalIdOf(api.webAcl), 'Arn'] },
    });
    const [association] = Object.values(template.findResources('AWS::WAFv2::WebACLAssociation'));
    expect(JSON.stringify(association?.Properties.ResourceArn)).toContain(logicalIdOf(api.restApi.deploymentStage));
    const [webAcl] = Object.values(template.findResources('AWS::WAFv2::WebACL'));
    expect(webAcl?.Properties.Scope).toBe('REGIONAL');
    const rules = webAcl?.Properties.Rules as Array<Record<string, any>>;
    expect(rules.map((rule) => rule.Statement.ManagedRuleGroupStatement?.Name).filter(Boolean)).toEqual([
      'AWSManagedRulesAmazonIpReputationList',
      'AWSManagedRulesKnownBadInputsRuleSet',
      'AWSManagedRulesCommonRuleSet',
    ]);
    expect(rules.find((rule) => rule.Statement.RateBasedStatement)).toMatchObject({
      Action: { Block: {} },
      Statement: { RateBasedStatement: { Limit: config.api.wafRateLimitPer5Minutes, AggregateKeyType: 'IP' } },
    });
  });

  it('validates the JSON body of POST /jobs against the submission schema, before the handler runs', () => {
    const submit = methodOf('POST /jobs');
    const validator = template.findResources('AWS::ApiGateway::RequestValidator')[submit.Properties.RequestValidatorId.Ref];
    expect(validator?.Properties).toMatchObject({ ValidateRequestBody: true, ValidateRequestParameters: true });
    const model = template.findResources('AWS::ApiGateway::Model')[submit.Properties.RequestModels['application/json'].Ref];
    expect(model?.Properties.Schema).toMatchObject({
      $schema: 'http://json-schema.org/draft-04/schema#',
      type: 'object',
      required: ['robot'],
      additionalProperties: false,
      properties: { robot: { type: 'string', minLength: 1, maxLength: 64 } },
    });
  });

  it('requires the path parameters of every route that has them', () => {
    expect(methodOf('GET /jobs/{jobId}').Properties.RequestParameters).toEqual({ 'method.request.path.jobId': true });
    expect(methodOf(`POST ${MACHINE_PATH_PREFIX}/jobs/{jobId}/cancel`).Properties.RequestParameters).toEqual({ 'method.request.path.jobId': true });
    for (const method of methods().filter((m) => !isPreflight(m))) expect(method.Properties.RequestValidatorId, routeOf(method)).toBeDefined();
  });

  it('answers CORS preflights for the console origin only', () => {
    for (const preflight of methods().filter(isPreflight)) {
      const headers = preflight.Properties.Integration.IntegrationResponses[0].ResponseParameters;
      expect(headers['method.response.header.Access-Control-Allow-Origin'], routeOf(preflight)).toBe(`'${CONSOLE_ORIGIN}'`);
    }
    for (const route of API_ROUTES) expect(functionProps(route.id).Environment.Variables[ENV.corsAllowedOrigin], route.id).toBe(CONSOLE_ORIGIN);
  });

  it("answers API Gateway's own errors in the API error shape, readable by the console", () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map((r) => r.Properties);
    const byType = (type: string) => responses.find((response) => response.ResponseType === type);
    for (const type of ['UNAUTHORIZED', 'ACCESS_DENIED', 'THROTTLED', 'BAD_REQUEST_BODY', 'DEFAULT_4XX', 'DEFAULT_5XX']) {
      const template = byType(type)?.ResponseTemplates['application/json'];
      expect(template, type).toMatch(/^\{"error":\{"code":"[A-Z_]+","message":.+\}\}$/);
      expect(byType(type)?.ResponseParameters['gatewayresponse.header.Access-Control-Allow-Origin'], type).toBe(`'${CONSOLE_ORIGIN}'`);
    }
    expect(byType('UNAUTHORIZED')?.ResponseTemplates['application/json']).toBe('{"error":{"code":"UNAUTHORIZED","message":$context.error.messageString}}');
    expect(byType('MISSING_AUTHENTICATION_TOKEN')).toMatchObject({ StatusCode: '404' });
  });

  it('runs every route on Node.js 24 on ARM with tracing', () => {
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
      expect(actions.includes('s3:GetObject'), route.id).toBe(route.access.artifactsBucket !== undefined);
      expect(actions.includes('states:StartExecution'), route.id).toBe(route.access.startExecution === true);
      expect(actions.filter((a) => a.startsWith('s3:') && a !== 's3:GetObject'), route.id).toEqual(route.access.artifactsBucket === 'archive' ? ['s3:PutObject'] : []);
    }
  });

  it('lets only the operations routes touch the robot queues: inspect reads, redrive also sends and deletes', () => {
    const queueActionsOf = (id: string, queue: { node: { defaultChild?: unknown } }) =>
      statementsOf(template, api.routeFunctions.get(id)!.role!)
        .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Resource).includes(logicalIdOf(queue)))
        .flatMap((s) => [s.Action].flat())
        .filter((action: string) => action.startsWith('sqs:'));
    for (const route of API_ROUTES) {
      const robot = queueActionsOf(route.id, workflow.robotQueue);
      const deadLetter = queueActionsOf(route.id, workflow.robotDeadLetterQueue);
      if (!route.access.robotQueues) {
        expect([...robot, ...deadLetter], route.id).toEqual([]);
        continue;
      }
      expect(robot, route.id).toContain('sqs:GetQueueAttributes');
      expect(deadLetter, route.id).toEqual(expect.arrayContaining(['sqs:GetQueueAttributes', 'sqs:ReceiveMessage']));
      expect(robot.includes('sqs:SendMessage'), route.id).toBe(route.access.robotQueues === 'redrive');
      expect(deadLetter.includes('sqs:DeleteMessage'), route.id).toBe(route.access.robotQueues === 'redrive');
      expect(robot.includes('sqs:ReceiveMessage') || robot.includes('sqs:DeleteMessage'), route.id).toBe(false);
      expect(functionProps(route.id).Environment.Variables, route.id).toMatchObject({
        [ENV.robotQueueUrl]: { Ref: logicalIdOf(workflow.robotQueue) },
        [ENV.robotDeadLetterQueueUrl]: { Ref: logicalIdOf(workflow.robotDeadLetterQueue) },
      });
    }
    expect(API_ROUTES.filter((r) => r.access.robotQueues === 'redrive').map((r) => r.id)).toEqual(['OpsRedriveDeadLetters']);
  });

  it('lets the operations overview read, never write, the portal session slots, and tells it their caps', () => {
    for (const route of API_ROUTES) {
      expect(mayOnTable(route.id, TABLE_READS, data.leasesTable), route.id).toBe(route.access.leasesTable === 'read');
      expect(mayOnTable(route.id, TABLE_WRITES, data.leasesTable), route.id).toBe(false);
    }
    expect(functionProps('OpsOverview').Environment.Variables).toHaveProperty(ENV.portalMaxSessions);
  });

  it('lets the archive route write job archives only', () => {
    const put = statementsOf(template, api.routeFunctions.get('ArchiveJob')!.role!).find((s) => [s.Action].flat().includes('s3:PutObject'));
    expect(JSON.stringify(put?.Resource)).toContain('/jobs/*/all-files.zip');
    expect(API_ROUTES.filter((r) => r.access.artifactsBucket === 'archive').map((r) => r.id)).toEqual(['ArchiveJob']);
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

  it("tells the routes that create jobs the stage's default and largest job timeout, and no others", () => {
    const creating = ['SubmitJob', 'RetryJob', 'CreateSchedule'];
    for (const id of creating) {
      expect(functionProps(id).Environment.Variables, id).toMatchObject({ [ENV.jobTimeoutSeconds]: '900', [ENV.jobMaxTimeoutSeconds]: '14400' });
    }
    for (const id of ['GetJob', 'ListJobs', 'CancelJob']) expect(functionProps(id).Environment.Variables, id).not.toHaveProperty(ENV.jobMaxTimeoutSeconds);
  });
});

describe('portal credentials', () => {
  const secretActionsOf = (id: string) => actionsOfRoute(id).filter((action) => action.startsWith('secretsmanager:'));
  const WRITES = ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource', 'secretsmanager:DeleteSecret'];

  it('lets the credentials routes write values and read metadata under the robot prefix, never read a value back', () => {
    for (const route of API_ROUTES.filter((r) => r.access.credentials === 'manage')) {
      expect(secretActionsOf(route.id), route.id).toEqual(expect.arrayContaining([...WRITES, 'secretsmanager:DescribeSecret', 'secretsmanager:ListSecrets']));
      const scoped = statementsOf(template, api.routeFunctions.get(route.id)!.role!).find((s) => [s.Action].flat().includes('secretsmanager:PutSecretValue'));
      expect(JSON.stringify(scoped?.Resource), route.id).toContain(`secret:${ROBOT_SECRETS_PREFIX}*`);
      expect(functionProps(route.id).Environment.Variables[ENV.robotSecretsPrefix], route.id).toBe(ROBOT_SECRETS_PREFIX);
    }
    expect(API_ROUTES.filter((r) => r.access.credentials === 'manage').map((r) => r.id).sort()).toEqual(['DeleteSecret', 'GetSecret', 'ListSecrets', 'PutSecret']);
  });

  it('lets the routes that create jobs check bindings only, and no route read a credential value', () => {
    for (const id of ['SubmitJob', 'RetryJob', 'CreateSchedule']) expect(secretActionsOf(id), id).toEqual(['secretsmanager:DescribeSecret']);
    for (const route of API_ROUTES) {
      const readsCredentialValues = statementsOf(template, api.routeFunctions.get(route.id)!.role!).some(
        (s) => [s.Action].flat().includes('secretsmanager:GetSecretValue') && JSON.stringify(s.Resource).includes(ROBOT_SECRETS_PREFIX),
      );
      expect(readsCredentialValues, route.id).toBe(false);
    }
  });
});

describe('intake bounds and signed cursors', () => {
  it('sizes the intake Lambda for its bounded spreadsheet work, and only that one', () => {
    expect(functionProps('SubmitJob')).toMatchObject({ MemorySize: 1024, Timeout: 15 });
    for (const route of API_ROUTES.filter((r) => !r.sizing)) expect(functionProps(route.id), route.id).toMatchObject({ MemorySize: 512, Timeout: 28 });
  });

  it('generates the page cursor key and lets exactly the listing routes read it, by the ARN in their environment', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { GenerateStringKey: 'key', PasswordLength: 64, SecretStringTemplate: '{}' },
    });
    const secretId = logicalIdOf(api.pageCursorKey);
    const listing = API_ROUTES.filter((route) => route.access.pageCursorKey).map((route) => route.id);
    expect(listing).toEqual(expect.arrayContaining(['ListJobs', 'ListJobItems', 'ListSchedules']));
    for (const route of API_ROUTES) {
      const reads = statementsOf(template, api.routeFunctions.get(route.id)!.role!).some(
        (s) => [s.Action].flat().includes('secretsmanager:GetSecretValue') && JSON.stringify(s.Resource).includes(secretId),
      );
      expect(reads, route.id).toBe(listing.includes(route.id));
      const variable = functionProps(route.id).Environment.Variables[ENV.pageCursorKeySecretArn];
      if (listing.includes(route.id)) expect(variable, route.id).toEqual({ Ref: secretId });
      else expect(variable, route.id).toBeUndefined();
    }
  });

  it("sends API Gateway's own errors (401, 403 ...) uncached and unsniffed", () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map((r) => r.Properties);
    for (const type of ['UNAUTHORIZED', 'ACCESS_DENIED', 'INVALID_API_KEY', 'DEFAULT_4XX', 'DEFAULT_5XX']) {
      const response = responses.find((candidate) => candidate.ResponseType === type);
      expect(response?.ResponseParameters, type).toMatchObject({
        'gatewayresponse.header.Cache-Control': "'no-store'",
        'gatewayresponse.header.X-Content-Type-Options': "'nosniff'",
      });
    }
  });
});
