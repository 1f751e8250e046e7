import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { API_ROUTES, type ApiRoute } from '../functions/api/routes';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';

export interface ApiProps {
  readonly userPool: IUserPool;
  readonly jobsTable: ITableV2;
  readonly artifactsBucket: IBucket;
  readonly stateMachine: IStateMachine;
  readonly functionDefaults: FunctionDefaults;
  readonly artifactUrlTtl: Duration;
}

/**
 * The REST API: one Lambda and one method per entry of API_ROUTES, each granted exactly the
 * access its route declares. Every route but the health check requires a Cognito token.
 * Request size needs no setting: API Gateway caps payloads at 10 MB, Lambda proxy at 6 MB.
 */
export class Api extends Construct {
  public readonly restApi: apigateway.RestApi;
  /** Route id → its handler. */
  public readonly routeFunctions: ReadonlyMap<string, RoboportFunction>;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      description: 'Roboport jobs API',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // Access logs need the account-wide API Gateway role; retained so that deleting one
      // stage's stack does not break logging for the others in the same account.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        tracingEnabled: true,
        metricsEnabled: true,
        accessLogDestination: new apigateway.LogGroupLogDestination(
          new logs.LogGroup(this, 'AccessLogGroup', {
            retention: props.functionDefaults.logRetention,
            removalPolicy: props.functionDefaults.logRemovalPolicy,
          }),
        ),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      },
    });
    const authorizer = new apigateway.CognitoUserPoolsAuthorizer(this, 'Authorizer', { cognitoUserPools: [props.userPool] });

    this.routeFunctions = new Map(API_ROUTES.map((route) => [route.id, this.addRoute(route, authorizer, props)]));
  }

  private addRoute(route: ApiRoute, authorizer: apigateway.IAuthorizer, props: ApiProps): RoboportFunction {
    const handler = new RoboportFunction(this, `${route.id}Function`, {
      defaults: props.functionDefaults,
      entry: route.entry,
      description: `${route.method} ${route.path}`,
      timeout: Duration.seconds(28),
    });
    if (route.access.jobsTable) handler.useJobsTable(props.jobsTable, route.access.jobsTable);
    if (route.access.artifactsBucket) handler.useArtifactDownloads(props.artifactsBucket, props.artifactUrlTtl);
    if (route.access.startExecution) handler.useStateMachineStart(props.stateMachine);

    const authorization: apigateway.MethodOptions = route.authorized
      ? { authorizer, authorizationType: apigateway.AuthorizationType.COGNITO }
      : { authorizationType: apigateway.AuthorizationType.NONE };
    this.restApi.root
      .resourceForPath(route.path)
      .addMethod(route.method, new apigateway.LambdaIntegration(handler, { allowTestInvoke: false }), authorization);
    return handler;
  }
}
