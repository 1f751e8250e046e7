import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import * as z from 'zod';
import { ARCHIVE_NAME } from '../core/archive';
import type { JobTimeouts } from '../core/delivery';
import { ENV } from '../core/env-names';
import type { PortalSessionCaps } from '../core/portal-session-caps';
import { API_ROUTES, type ApiRoute } from '../functions/api/routes';
import { acknowledge } from './nag';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';
import type { Schedules } from './schedules';
import { WebAcl } from './web-acl';

export interface Throttle {
  /** Steady requests per second. */
  readonly rateLimit: number;
  readonly burstLimit: number;
}

export interface ApiProps {
  readonly userPool: IUserPool;
  readonly jobsTable: ITableV2;
  readonly itemsTable: ITableV2;
  readonly accountsTable: ITableV2;
  readonly artifactsBucket: IBucket;
  readonly stateMachine: IStateMachine;
  /** The stage's job timeoutSeconds default and limit, for the routes that create jobs. */
  readonly jobTimeouts: JobTimeouts;
  /** Where portal credentials live in Secrets Manager (the robots read them there). */
  readonly robotSecretsPrefix: string;
  /** The robot queue and its DLQ, for the operations routes (`robotQueues` access). */
  readonly robotQueue: IQueue;
  readonly robotDeadLetterQueue: IQueue;
  /** Portal session slots and their caps, for the operations overview (`leasesTable` access). */
  readonly leasesTable: ITableV2;
  readonly portalSessions: PortalSessionCaps;
  /** Grants routes with `schedules` access. */
  readonly schedules: Schedules;
  readonly functionDefaults: FunctionDefaults;
  readonly artifactUrlTtl: Duration;
  /** The console's origin (`https://host`): the only origin CORS allows. */
  readonly corsOrigin: string;
  /** Default throttle of every method, for all callers together. */
  readonly throttle: Throttle;
  readonly machineClients: {
    /** OAuth scopes (`resource-server/scope`) a machine token needs for GET, and for other methods. */
    readonly readScope: string;
    readonly writeScope: string;
    /** Per API key. */
    readonly throttle: Throttle;
    readonly dailyQuota: number;
  };
  /** Requests per IP address per 5 minutes before WAF blocks it. */
  readonly wafRateLimitPer5Minutes: number;
  /** A custom domain name with a regional ACM certificate; DNS is left to its owner. */
  readonly customDomain?: { readonly name: string; readonly certificateArn: string };
}

/** The API's one stage, the first segment of every path: `https://<id>.execute-api.<region>.amazonaws.com/v1/`. */
const STAGE_NAME = 'v1';

/** Machine clients call every authorized route below this path (see docs/deploy.md). */
export const MACHINE_PATH_PREFIX = '/machine';

/** Why each route without authorization may be public (cdk-nag acknowledgements, docs/deploy.md). */
const PUBLIC_ROUTE_REASONS: Record<string, string> = {
  Health: 'Health check for monitors; it returns no data and calls nothing.',
  OpenApi: 'The API contract (OpenAPI document) for client developers; it returns a static document and calls nothing.',
};

/** Request headers the console sends cross-origin. */
const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key'];

/**
 * The REST API: one Lambda per entry of API_ROUTES, each granted exactly the access its route
 * declares, and up to two methods per route:
 * - `/<path>` for people: a Cognito ID token (console, CLI);
 * - `/machine/<path>` for machine clients: a Cognito access token from the client-credentials
 *   flow carrying the route's scope, plus an API key of the machine-client usage plan
 *   (throttle and daily quota per key). A Cognito authorizer with scopes refuses ID tokens,
 *   hence a method set of its own.
 * Behind WAF, with JSON access logs, request validation, CORS for the console origin only, and
 * errors of API Gateway itself in the API's error shape `{"error":{"code","message"}}`.
 * Request size needs no setting: API Gateway caps payloads at 10 MB, Lambda proxy at 6 MB.
 */
export class Api extends Construct {
  public readonly restApi: apigateway.RestApi;
  /**
   * Base URL for clients. Built from the API id and the stage's name rather than
   * `restApi.url`, so that the console (whose CSP names the API) does not depend on the stage,
   * whose CORS settings name the console: that would be a cycle.
   */
  public readonly url: string;
  /** Route id → its handler. */
  public readonly routeFunctions: ReadonlyMap<string, RoboportFunction>;
  public readonly machineClientsPlan: apigateway.UsagePlan;
  /** The API key of the stack's machine client; add one key per further client to the plan. */
  public readonly machineClientApiKey: apigateway.IApiKey;
  public readonly webAcl: WebAcl;
  public readonly customDomain?: apigateway.DomainName;
  /** Signs the nextToken cursors of the listings, so that a client can only replay what it was given. */
  public readonly pageCursorKey: secretsmanager.Secret;

  private readonly props: ApiProps;
  private readonly authorizer: apigateway.IAuthorizer;
  private readonly bodyValidator: apigateway.RequestValidator;
  private readonly parameterValidator: apigateway.RequestValidator;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.props = props;
    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      description: 'Roboport jobs API',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // Spreadsheet uploads reach the Lambda base64-encoded, byte for byte, instead of as text.
      binaryMediaTypes: ['multipart/form-data'],
      // Access logs need the account-wide API Gateway role; retained so that deleting one
      // stage's stack does not break logging for the others in the same account.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: STAGE_NAME,
        tracingEnabled: true,
        metricsEnabled: true,
        // Execution logs for failures only; request and response bodies never reach the logs.
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        accessLogDestination: new apigateway.LogGroupLogDestination(
          new logs.LogGroup(this, 'AccessLogGroup', {
            retention: props.functionDefaults.logRetention,
            removalPolicy: props.functionDefaults.logRemovalPolicy,
            encryptionKey: props.functionDefaults.logEncryptionKey,
          }),
        ),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      },
      defaultCorsPreflightOptions: {
        allowOrigins: [props.corsOrigin],
        allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
        allowHeaders: CORS_ALLOWED_HEADERS,
        maxAge: Duration.minutes(10),
      },
    });
    acknowledge(
      this.restApi.node.findChild('CloudWatchRole'),
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'The account-wide role API Gateway writes logs with; AWS documents this managed policy for it, and the log groups it creates are named after API ids not known in advance.',
    );
    this.addErrorResponses();

    this.authorizer = new apigateway.CognitoUserPoolsAuthorizer(this, 'Authorizer', { cognitoUserPools: [props.userPool] });
    this.bodyValidator = this.restApi.addRequestValidator('BodyValidator', { validateRequestBody: true, validateRequestParameters: true });
    this.parameterValidator = this.restApi.addRequestValidator('ParameterValidator', { validateRequestParameters: true });

    this.machineClientsPlan = this.restApi.addUsagePlan('MachineClientsPlan', {
      description: 'Machine clients: throttle and daily quota per API key',
      throttle: props.machineClients.throttle,
      quota: { limit: props.machineClients.dailyQuota, period: apigateway.Period.DAY },
      apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
    });
    this.machineClientApiKey = this.restApi.addApiKey('MachineClientApiKey', { description: 'API key of the stack-created machine client' });
    this.machineClientsPlan.addApiKey(this.machineClientApiKey);

    this.pageCursorKey = new secretsmanager.Secret(this, 'PageCursorKey', {
      description: 'HMAC key of the API listings\' nextToken cursors',
      generateSecretString: { secretStringTemplate: '{}', generateStringKey: 'key', passwordLength: 64, excludePunctuation: true },
    });
    acknowledge(
      this.pageCursorKey,
      'AwsSolutions-SMG4',
      'A new key would only invalidate the cursors in flight; it guards nothing a cursor can reach beyond the caller\'s own listing, which every cursor is checked against as well.',
    );
    this.routeFunctions = new Map(API_ROUTES.map((route) => [route.id, this.addRoute(route)]));
    this.acknowledgeUnauthenticatedMethods();

    this.webAcl = new WebAcl(this, 'WebAcl', { scope: 'REGIONAL', rateLimitPer5Minutes: props.wafRateLimitPer5Minutes });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.restApi.deploymentStage.stageArn,
      webAclArn: this.webAcl.webAclArn,
    });

    if (props.customDomain) {
      this.customDomain = this.restApi.addDomainName('CustomDomain', {
        domainName: props.customDomain.name,
        certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', props.customDomain.certificateArn),
        endpointType: apigateway.EndpointType.REGIONAL,
        securityPolicy: apigateway.SecurityPolicy.TLS_1_2,
      });
    }
    const { region, urlSuffix } = Stack.of(this);
    this.url = props.customDomain
      ? `https://${props.customDomain.name}/`
      : `https://${this.restApi.restApiId}.execute-api.${region}.${urlSuffix}/${STAGE_NAME}/`;
  }

  private addRoute(route: ApiRoute): RoboportFunction {
    const { props } = this;
    const handler = new RoboportFunction(this, `${route.id}Function`, {
      defaults: props.functionDefaults,
      entry: route.entry,
      description: `${route.method} ${route.path}`,
      timeout: Duration.seconds(route.sizing?.timeoutSeconds ?? 28),
      memorySize: route.sizing?.memoryMiB,
      nodeModules: route.nodeModules,
    });
    handler.addEnvironment(ENV.corsAllowedOrigin, props.corsOrigin);
    if (route.access.jobsTable) handler.useJobsTable(props.jobsTable, route.access.jobsTable);
    if (route.access.itemsTable) handler.useItemsTable(props.itemsTable, route.access.itemsTable);
    if (route.access.accountsTable) handler.useAccountsTable(props.accountsTable);
    if (route.access.artifactsBucket === 'read') handler.useArtifactDownloads(props.artifactsBucket, props.artifactUrlTtl);
    if (route.access.artifactsBucket === 'archive') handler.useArtifactArchives(props.artifactsBucket, props.artifactUrlTtl, ARCHIVE_NAME);
    // Each execution runs one job, which the route creates first.
    if (route.access.startExecution) handler.useStateMachineStart(props.stateMachine).useJobTimeouts(props.jobTimeouts);
    if (route.access.schedules) props.schedules.grantApiAccess(handler, route.access.schedules);
    if (route.access.credentials) handler.useCredentials(props.robotSecretsPrefix, route.access.credentials);
    if (route.access.pageCursorKey) handler.usePageCursorKey(this.pageCursorKey);
    if (route.access.robotQueues) handler.useRobotQueues({ robot: props.robotQueue, deadLetter: props.robotDeadLetterQueue }, route.access.robotQueues);
    if (route.access.leasesTable) handler.useLeasesTable(props.leasesTable, props.portalSessions);

    const integration = new apigateway.LambdaIntegration(handler, { allowTestInvoke: false });
    const validation = this.validationOf(route);
    if (!route.authorized) {
      this.restApi.root
        .resourceForPath(route.path)
        .addMethod(route.method, integration, { ...validation, authorizationType: apigateway.AuthorizationType.NONE });
      return handler;
    }
    const cognito = { authorizer: this.authorizer, authorizationType: apigateway.AuthorizationType.COGNITO };
    this.restApi.root.resourceForPath(route.path).addMethod(route.method, integration, { ...validation, ...cognito });
    this.restApi.root.resourceForPath(`${MACHINE_PATH_PREFIX}${route.path}`).addMethod(route.method, integration, {
      ...validation,
      ...cognito,
      authorizationScopes: [route.method === 'GET' ? props.machineClients.readScope : props.machineClients.writeScope],
      apiKeyRequired: true,
    });
    return handler;
  }

  /** Path parameters must be present; a JSON body must match the route's schema. */
  private validationOf(route: ApiRoute): apigateway.MethodOptions {
    const pathParameters = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => `method.request.path.${name}`);
    const requestParameters = pathParameters.length > 0 ? Object.fromEntries(pathParameters.map((name) => [name, true])) : undefined;
    if (!route.jsonBodySchema) return { requestValidator: this.parameterValidator, requestParameters };
    const model = this.restApi.addModel(`${route.id}Body`, {
      contentType: 'application/json',
      // API Gateway validates against JSON Schema draft 4.
      schema: z.toJSONSchema(route.jsonBodySchema, { target: 'draft-04', io: 'input' }) as apigateway.JsonSchema,
    });
    return { requestValidator: this.bodyValidator, requestModels: { 'application/json': model }, requestParameters };
  }

  /**
   * Errors API Gateway answers itself (no token, bad API key, throttled, invalid body, WAF,
   * integration failure) in the shape the handlers use, and readable by the console (CORS).
   */
  private addErrorResponses(): void {
    const errorOf = (code: string, message = '$context.error.messageString') => `{"error":{"code":"${code}","message":${message}}}`;
    const responses: Array<{ type: apigateway.ResponseType; body: string; statusCode?: string }> = [
      { type: apigateway.ResponseType.UNAUTHORIZED, body: errorOf('UNAUTHORIZED') },
      // What API Gateway answers for a path or method it does not have.
      { type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, body: errorOf('NOT_FOUND'), statusCode: '404' },
      { type: apigateway.ResponseType.ACCESS_DENIED, body: errorOf('FORBIDDEN') },
      { type: apigateway.ResponseType.INVALID_API_KEY, body: errorOf('FORBIDDEN') },
      { type: apigateway.ResponseType.WAF_FILTERED, body: errorOf('FORBIDDEN') },
      { type: apigateway.ResponseType.THROTTLED, body: errorOf('THROTTLED') },
      { type: apigateway.ResponseType.QUOTA_EXCEEDED, body: errorOf('QUOTA_EXCEEDED') },
      { type: apigateway.ResponseType.REQUEST_TOO_LARGE, body: errorOf('PAYLOAD_TOO_LARGE') },
      { type: apigateway.ResponseType.UNSUPPORTED_MEDIA_TYPE, body: errorOf('UNSUPPORTED_MEDIA_TYPE') },
      { type: apigateway.ResponseType.BAD_REQUEST_PARAMETERS, body: errorOf('INPUT_INVALID') },
      // The validator's message names the failing field; escaped for JSON (AWS's documented idiom).
      {
        type: apigateway.ResponseType.BAD_REQUEST_BODY,
        body: errorOf('INPUT_INVALID', `"$util.escapeJavaScript($context.error.validationErrorString).replaceAll("\\\\'","'")"`),
      },
      { type: apigateway.ResponseType.DEFAULT_4XX, body: errorOf('BAD_REQUEST') },
      { type: apigateway.ResponseType.DEFAULT_5XX, body: errorOf('INTERNAL_ERROR') },
    ];
    for (const { type, body, statusCode } of responses) {
      this.restApi.addGatewayResponse(`${type.responseType}Response`, {
        type,
        statusCode,
        responseHeaders: { 'Access-Control-Allow-Origin': `'${this.props.corsOrigin}'`, 'Cache-Control': "'no-store'", 'X-Content-Type-Options': "'nosniff'" },
        templates: { 'application/json': body },
      });
    }
  }

  /** The public routes (health check, OpenAPI document) and CORS preflights are the only methods without authorization. */
  private acknowledgeUnauthenticatedMethods(): void {
    for (const method of this.restApi.methods) {
      const isPreflight = method.httpMethod === 'OPTIONS';
      const publicRoute = API_ROUTES.find((route) => !route.authorized && route.method === method.httpMethod && route.path === method.resource.path);
      if (!isPreflight && !publicRoute) continue;
      const reason = isPreflight
        ? 'CORS preflight: browsers send OPTIONS without credentials; its mock integration only returns CORS headers.'
        : PUBLIC_ROUTE_REASONS[publicRoute!.id];
      if (!reason) throw new Error(`Route ${publicRoute!.id} is public: say why in PUBLIC_ROUTE_REASONS`);
      acknowledge(method, 'AwsSolutions-APIG4', reason);
      acknowledge(method, 'AwsSolutions-COG4', reason);
    }
  }
}
