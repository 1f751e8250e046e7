import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Api } from './api';
import { Auth } from './auth';
import type { StageConfig } from './config';
import { Data } from './data';
import { RobotFleet } from './robot-fleet';
import type { FunctionDefaults } from './roboport-function';
import { Workflow } from './workflow';

export interface RoboportStackProps extends StackProps {
  readonly config: StageConfig;
  /** Repository root: Lambda entries and the worker's Docker build context are relative to it. */
  readonly sourceRoot: string;
}

/** One stage of Roboport: data, sign-in, the job workflow, the robot fleet and the API. */
export class RoboportStack extends Stack {
  constructor(scope: Construct, id: string, props: RoboportStackProps) {
    super(scope, id, props);
    const { config, sourceRoot } = props;
    const functionDefaults: FunctionDefaults = {
      sourceRoot,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: config.dataRemovalPolicy,
      logLevel: config.logLevel,
    };

    const data = new Data(this, 'Data', {
      removalPolicy: config.dataRemovalPolicy,
      artifactRetention: Duration.days(config.artifactRetentionDays),
    });
    const auth = new Auth(this, 'Auth', { removalPolicy: config.dataRemovalPolicy });
    const workflow = new Workflow(this, 'Workflow', { jobsTable: data.jobsTable, functionDefaults, robot: config.robot });
    new RobotFleet(this, 'RobotFleet', {
      sourceRoot,
      robotQueue: workflow.robotQueue,
      jobsTable: data.jobsTable,
      artifactsBucket: data.artifactsBucket,
      ...config.fleet,
      workerConcurrency: config.workerConcurrency,
      heartbeatSeconds: config.robot.heartbeatSeconds,
      egressAllowHosts: config.egressAllowHosts,
      logLevel: config.logLevel,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: config.dataRemovalPolicy,
    });
    const api = new Api(this, 'Api', {
      userPool: auth.userPool,
      jobsTable: data.jobsTable,
      artifactsBucket: data.artifactsBucket,
      stateMachine: workflow.stateMachine,
      functionDefaults,
      artifactUrlTtl: Duration.seconds(config.artifactUrlTtlSeconds),
    });

    const outputs: Record<string, string> = {
      ApiUrl: api.restApi.url,
      UserPoolId: auth.userPool.userPoolId,
      UserPoolClientId: auth.userPoolClient.userPoolClientId,
      ArtifactsBucketName: data.artifactsBucket.bucketName,
      JobsTableName: data.jobsTable.tableName,
      RobotQueueUrl: workflow.robotQueue.queueUrl,
      StateMachineArn: workflow.stateMachine.stateMachineArn,
    };
    for (const [key, value] of Object.entries(outputs)) new CfnOutput(this, key, { value });
  }
}
