import { CfnOutput, Duration, Lazy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Api } from './api';
import { Auth } from './auth';
import { jobTimeoutsOf, type StageConfig } from './config';
import { AdminConsole } from './console';
import { CLOUDFRONT_WEB_ACL_REGION } from './console-edge-stack';
import { Data } from './data';
import { DlqReprocessor } from './dlq-reprocessor';
import { acknowledge, acknowledgeScopedWildcards } from './nag';
import { Observability } from './observability';
import { RobotFleet } from './robot-fleet';
import { type FunctionDefaults, RoboportFunction } from './roboport-function';
import { Schedules } from './schedules';
import { WebAcl } from './web-acl';
import { Workflow } from './workflow';

export interface RoboportStackProps extends StackProps {
  readonly config: StageConfig;
  /** Repository root: Lambda entries and the worker's Docker build context are relative to it. */
  readonly sourceRoot: string;
  /**
   * ARN of the console's CLOUDFRONT web ACL from the ConsoleEdgeStack (us-east-1). Unset: a
   * stage in us-east-1 creates it itself; elsewhere the console has no WAF (bin/roboport.ts).
   */
  readonly consoleWebAclArn?: string;
}

/**
 * One stage of Roboport: data, sign-in, the job workflow, the robot fleet, schedules, the API,
 * the console, and the alarms and dashboard that watch them.
 */
export class RoboportStack extends Stack {
  constructor(scope: Construct, id: string, props: RoboportStackProps) {
    super(scope, id, props);
    const { config, sourceRoot } = props;
    const data = new Data(this, 'Data', {
      removalPolicy: config.dataRemovalPolicy,
      artifactRetention: Duration.days(config.artifactRetentionDays),
      accessLogRetention: Duration.days(config.logRetentionDays),
    });
    const functionDefaults: FunctionDefaults = {
      sourceRoot,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: config.dataRemovalPolicy,
      logLevel: config.logLevel,
      logEncryptionKey: data.key,
      jobRetentionDays: config.jobRetentionDays,
    };
    const jobTimeouts = jobTimeoutsOf(config);
    const auth = new Auth(this, 'Auth', {
      removalPolicy: config.dataRemovalPolicy,
      // Cognito domain prefixes are global per region: the account id keeps them unique.
      domainPrefix: `roboport-${config.stage}-${this.account}`,
    });
    const workflow = new Workflow(this, 'Workflow', {
      jobsTable: data.jobsTable,
      itemsTable: data.itemsTable,
      accountsTable: data.accountsTable,
      egressAllowHosts: config.egressAllowHosts,
      functionDefaults,
      robot: config.robot,
      encryptionKey: data.key,
      deadLetterConsumer: DlqReprocessor.deadLetterConsumer,
    });
    const robotSecretsPrefix = `roboport/${config.stage}/robots/`;
    const fleet = new RobotFleet(this, 'RobotFleet', {
      sourceRoot,
      robotQueue: workflow.robotQueue,
      jobsTable: data.jobsTable,
      itemsTable: data.itemsTable,
      leasesTable: data.leasesTable,
      artifactsBucket: data.artifactsBucket,
      robotSecretsPrefix,
      portalSessions: config.portalSessions,
      ...config.fleet,
      workerConcurrency: config.workerConcurrency,
      pagesPerSession: config.pagesPerSession,
      workerBeatSeconds: config.robot.workerBeatSeconds,
      defaultJobTimeoutSeconds: jobTimeouts.defaultSeconds,
      egressAllowHosts: config.egressAllowHosts,
      logLevel: config.logLevel,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: config.dataRemovalPolicy,
      logEncryptionKey: data.key,
    });
    new DlqReprocessor(this, 'DlqReprocessor', {
      deadLetterQueue: workflow.robotDeadLetterQueue,
      jobsTable: data.jobsTable,
      itemsTable: data.itemsTable,
      leasesTable: data.leasesTable,
      accountsTable: data.accountsTable,
      artifactsBucket: data.artifactsBucket,
      robotSecretsPrefix,
      portalSessions: config.portalSessions,
      workerBeatSeconds: config.robot.workerBeatSeconds,
      defaultJobTimeoutSeconds: jobTimeouts.defaultSeconds,
      egressAllowHosts: config.egressAllowHosts,
      functionDefaults,
    });
    const schedules = new Schedules(this, 'Schedules', {
      stage: config.stage,
      jobsTable: data.jobsTable,
      stateMachine: workflow.stateMachine,
      jobTimeouts,
      robotSecretsPrefix,
      functionDefaults,
      removalPolicy: config.dataRemovalPolicy,
      tableEncryption: data.tableEncryption,
      encryptionKey: data.key,
    });
    // The API allows the console's origin, and the console is told the API's URL: the origin
    // is filled in once the console exists.
    let consoleOrigin: string | undefined;
    const api = new Api(this, 'Api', {
      userPool: auth.userPool,
      jobsTable: data.jobsTable,
      itemsTable: data.itemsTable,
      accountsTable: data.accountsTable,
      artifactsBucket: data.artifactsBucket,
      stateMachine: workflow.stateMachine,
      jobTimeouts,
      robotSecretsPrefix,
      schedules,
      functionDefaults,
      artifactUrlTtl: Duration.seconds(config.artifactUrlTtlSeconds),
      corsOrigin: Lazy.string({ produce: () => consoleOrigin }),
      throttle: config.api.throttle,
      machineClients: {
        readScope: auth.scopes.read,
        writeScope: auth.scopes.write,
        throttle: config.api.machineClientThrottle,
        dailyQuota: config.api.machineClientDailyQuota,
      },
      wafRateLimitPer5Minutes: config.api.wafRateLimitPer5Minutes,
      customDomain: config.domains?.api,
    });
    const adminConsole = new AdminConsole(this, 'Console', {
      sourceRoot,
      apiUrl: api.url,
      userPoolClientId: auth.userPoolClient.userPoolClientId,
      accessLogRetention: Duration.days(config.logRetentionDays),
      accessLogRemovalPolicy: config.dataRemovalPolicy,
      ...(config.domains?.console ? { domain: config.domains.console } : {}),
    });
    consoleOrigin = adminConsole.origin;
    this.protectConsole(adminConsole, config, props.consoleWebAclArn);

    const observability = new Observability(this, 'Observability', {
      encryptionKey: data.key,
      alarmEmail: config.alarms.email,
      restApi: api.restApi,
      functions: this.node.findAll().filter((construct) => construct instanceof RoboportFunction),
      stateMachine: workflow.stateMachine,
      robotQueue: workflow.robotQueue,
      deadLetterQueues: [workflow.robotDeadLetterQueue, schedules.deadLetterQueue, ...(workflow.robotParkedQueue ? [workflow.robotParkedQueue] : [])],
      runningTasks: fleet.runningTasks,
      maxTasks: config.fleet.maxTasks,
      oldestQueuedJobAge: Duration.seconds(config.alarms.oldestQueuedJobSeconds),
      fleetAtMaxFor: Duration.minutes(config.alarms.fleetAtMaxMinutes),
    });

    // The keys of .roboport/outputs.json (local/stack.ts LocalOutputs) where AWS has the same thing.
    const outputs: Record<string, string> = {
      Region: this.region,
      ApiUrl: api.url,
      UserPoolId: auth.userPool.userPoolId,
      UserPoolClientId: auth.userPoolClient.userPoolClientId,
      CognitoEndpoint: `https://cognito-idp.${this.region}.${this.urlSuffix}/`,
      MachineClientId: auth.machineClient.userPoolClientId,
      MachineApiKeyId: api.machineClientApiKey.keyId,
      MachineApiUrl: `${api.url}machine/`,
      TokenUrl: `${auth.domain.baseUrl()}/oauth2/token`,
      ConsoleUrl: adminConsole.url,
      ArtifactsBucketName: data.artifactsBucket.bucketName,
      JobsTableName: data.jobsTable.tableName,
      RobotQueueUrl: workflow.robotQueue.queueUrl,
      RobotDeadLetterQueueUrl: workflow.robotDeadLetterQueue.queueUrl,
      StateMachineArn: workflow.stateMachine.stateMachineArn,
      AlarmTopicArn: observability.alarmTopic.topicArn,
      DashboardName: observability.dashboard.dashboardName,
    };
    for (const [key, value] of Object.entries(outputs)) new CfnOutput(this, key, { value });
    acknowledgeScopedWildcards(this);
  }

  /** WAF in front of the console: CloudFront takes web ACLs from us-east-1 only. */
  private protectConsole(adminConsole: AdminConsole, config: StageConfig, webAclArn: string | undefined): void {
    if (webAclArn) {
      adminConsole.distribution.attachWebAclId(webAclArn);
    } else if (config.region === CLOUDFRONT_WEB_ACL_REGION) {
      const webAcl = new WebAcl(this, 'ConsoleWebAcl', { scope: 'CLOUDFRONT', rateLimitPer5Minutes: config.api.wafRateLimitPer5Minutes });
      adminConsole.distribution.attachWebAclId(webAcl.webAclArn);
    } else {
      acknowledge(
        adminConsole.distribution,
        'AwsSolutions-CFR2',
        'This stage has no account and region in cdk.json, so no web ACL can be made in us-east-1 for it; the console is static files and the API behind it has its own WAF.',
      );
    }
  }
}
