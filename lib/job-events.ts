import { Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../core/env-names';
import { EVENT_CONNECTIONS_TABLE } from '../core/table-schema';
import { EVENTS_FUNCTIONS } from '../functions/api/routes';
import { acknowledge, wildcardResourceFinding } from './nag';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';

export interface JobEventsProps {
  /** The jobs table, with a stream of new images: every write of a job becomes an event. */
  readonly jobsTable: dynamodb.ITableV2;
  readonly userPool: cognito.IUserPool;
  /** The app client whose ID tokens may connect (the console's and the CLI's). */
  readonly userPoolClient: cognito.IUserPoolClient;
  readonly functionDefaults: FunctionDefaults;
  /** Requests per second (burst) for all connections together: connects and client messages. */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly removalPolicy: RemovalPolicy;
  /** The stage's table encryption (Data.tableEncryption). @default AWS managed key */
  readonly tableEncryption?: dynamodb.TableEncryptionV2;
}

/** The WebSocket stage's name: EventsUrl is wss://<api>.execute-api.<region>.amazonaws.com/live. */
const STAGE_NAME = 'live';

/**
 * Live job events (core/job-events.ts): a WebSocket API whose $connect runs a Lambda authorizer
 * that verifies the Cognito ID token in `?token=`, a connections table, and the fan-out Lambda fed
 * by the jobs table's stream.
 *
 * Why a stream and not the writers posting: the robot workers write progress once per item; with
 * the stream their hot path stays one UpdateItem, and the per-connection PostToConnection calls,
 * the connection lookups and their IAM rights live in one function. DynamoDB delivers a job's
 * writes in order (one item, one shard), so frames leave in the order of the writes.
 */
export class JobEvents extends Construct {
  public readonly webSocketApi: apigwv2.WebSocketApi;
  public readonly stage: apigwv2.WebSocketStage;
  public readonly connectionsTable: dynamodb.TableV2;
  public readonly authorizerFunction: RoboportFunction;
  public readonly connectionsFunction: RoboportFunction;
  public readonly fanOutFunction: RoboportFunction;

  constructor(scope: Construct, id: string, props: JobEventsProps) {
    super(scope, id);
    const streamArn = props.jobsTable.tableStreamArn;
    if (!streamArn) throw new Error('JobEvents needs the jobs table with its stream (dynamoStream: NEW_IMAGE)');
    const defaults = props.functionDefaults;

    this.connectionsTable = new dynamodb.TableV2(this, 'ConnectionsTable', {
      partitionKey: { name: EVENT_CONNECTIONS_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      globalSecondaryIndexes: [EVENT_CONNECTIONS_TABLE.byOwnerIndex, EVENT_CONNECTIONS_TABLE.adminsIndex].map((index) => ({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      })),
      timeToLiveAttribute: EVENT_CONNECTIONS_TABLE.ttlAttribute,
      billing: dynamodb.Billing.onDemand(),
      encryption: props.tableEncryption ?? dynamodb.TableEncryptionV2.awsManagedKey(),
      // Open connections only: nothing to recover after a restore.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
      removalPolicy: props.removalPolicy,
    });
    acknowledge(this.connectionsTable, 'AwsSolutions-DDB3', 'Open WebSocket connections only, gone within two hours; a restore would bring back connections that no longer exist.');

    this.authorizerFunction = new RoboportFunction(this, 'Authorizer', {
      defaults,
      entry: EVENTS_FUNCTIONS.authorize,
      description: 'Live job events: verifies the Cognito ID token of a WebSocket $connect',
    });
    this.authorizerFunction.addEnvironment(ENV.userPoolId, props.userPool.userPoolId);
    this.authorizerFunction.addEnvironment(ENV.userPoolClientId, props.userPoolClient.userPoolClientId);

    this.connectionsFunction = new RoboportFunction(this, 'Connections', {
      defaults,
      entry: EVENTS_FUNCTIONS.connections,
      description: 'Live job events: $connect, $disconnect and client messages',
    });
    this.connectionsTable.grantWriteData(this.connectionsFunction);
    this.connectionsFunction.addEnvironment(ENV.eventConnectionsTable, this.connectionsTable.tableName);

    const routeIntegration = (name: string) => new WebSocketLambdaIntegration(name, this.connectionsFunction);
    this.webSocketApi = new apigwv2.WebSocketApi(this, 'WebSocketApi', {
      description: 'Roboport live job events',
      connectRouteOptions: {
        integration: routeIntegration('ConnectHandler'),
        // Browsers cannot set headers on a WebSocket: the ID token comes in the query string.
        authorizer: new WebSocketLambdaAuthorizer('IdToken', this.authorizerFunction, { identitySource: ['route.request.querystring.token'] }),
      },
      disconnectRouteOptions: { integration: routeIntegration('DisconnectHandler') },
      defaultRouteOptions: { integration: routeIntegration('MessageHandler') },
    });
    acknowledge(
      this.webSocketApi,
      'AwsSolutions-APIG4',
      'API Gateway runs WebSocket authorizers on $connect only (which has one); $disconnect and messages belong to a connection that was authorized then.',
    );

    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: STAGE_NAME,
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(
          new logs.LogGroup(this, 'AccessLogGroup', {
            retention: defaults.logRetention,
            removalPolicy: defaults.logRemovalPolicy,
            encryptionKey: defaults.logEncryptionKey,
          }),
        ),
      },
    });

    this.fanOutFunction = new RoboportFunction(this, 'FanOut', {
      defaults,
      entry: EVENTS_FUNCTIONS.fanOut,
      description: 'Live job events: sends each write of a job to its owner’s and the admins’ connections',
      timeout: Duration.seconds(30),
    });
    this.connectionsTable.grantReadData(this.fanOutFunction);
    // Connections found gone (410) are deleted.
    this.connectionsTable.grant(this.fanOutFunction, 'dynamodb:DeleteItem');
    this.fanOutFunction.addEnvironment(ENV.eventConnectionsTable, this.connectionsTable.tableName);
    this.stage.grantManagementApiAccess(this.fanOutFunction);
    this.fanOutFunction.addEnvironment(ENV.eventsManagementEndpoint, this.stage.callbackUrl);
    props.jobsTable.grantStreamRead(this.fanOutFunction);
    this.fanOutFunction.addEventSourceMapping('JobsStream', {
      eventSourceArn: streamArn,
      startingPosition: lambda.StartingPosition.LATEST,
      batchSize: 100,
      // A frame about a state minutes old is noise: clients read the job anyway when they connect.
      maxRecordAge: Duration.minutes(5),
      retryAttempts: 3,
      reportBatchItemFailures: true,
    });
    const policy = this.fanOutFunction.role!.node.findChild('DefaultPolicy');
    acknowledge(
      policy,
      // The ARN as WebSocketStage.grantManagementApiAccess writes it.
      wildcardResourceFinding(this, `${Stack.of(this).formatArn({ service: 'execute-api', resource: this.webSocketApi.apiId })}/${STAGE_NAME}/*/@connections/*`),
      'Connection ids are made by API Gateway at run time; the grant is execute-api:ManageConnections on this API’s one stage only.',
    );
    acknowledge(policy, 'AwsSolutions-IAM5[Resource::*]', 'dynamodb:ListStreams cannot be scoped to a table (CDK’s grantStreamRead); the stream records are read from the jobs table’s stream only.');
  }

  /** wss://…/live: the EventsUrl output. */
  get url(): string {
    return this.stage.url;
  }
}
