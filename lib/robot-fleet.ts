import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../core/env-names';

export interface RobotFleetProps {
  /** Repository root: the Docker build context of containers/robot/Dockerfile. */
  readonly sourceRoot: string;
  readonly robotQueue: IQueue;
  readonly jobsTable: ITableV2;
  readonly artifactsBucket: IBucket;
  readonly minTasks: number;
  readonly maxTasks: number;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly workerConcurrency: number;
  /** The workflow's HeartbeatSeconds; the worker heartbeats well within it. */
  readonly heartbeatSeconds: number;
  readonly egressAllowHosts: readonly string[];
  readonly logLevel: string;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

const ROBOT_DOCKERFILE = 'containers/robot/Dockerfile';

/**
 * Kept out of the image build context: bulky or generated files, tests, and the infrastructure
 * code (so that an infrastructure change does not rebuild the image).
 */
const IMAGE_CONTEXT_EXCLUDES = [
  'node_modules', 'cdk.out', '.roboport', '.git', '.vitest-tmp', '*.log',
  'test', 'bench', '**/*.test.ts',
  'bin', 'lib', 'cdk.json',
];

/**
 * The robot workers: Fargate tasks in private subnets (internet via one NAT gateway) that
 * take jobs from the robot queue, run the robot, upload artifacts and report to the workflow.
 * The task count follows the number of jobs queued or running.
 */
export class RobotFleet extends Construct {
  public readonly vpc: ec2.Vpc;
  public readonly cluster: ecs.Cluster;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly service: ecs.FargateService;

  constructor(scope: Construct, id: string, props: RobotFleetProps) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
    });
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: this.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'WorkerTask', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      // x86 because the headless Chromium builds the worker uses are published for x86_64 first.
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.taskDefinition.addContainer('Worker', {
      image: ecs.ContainerImage.fromAsset(props.sourceRoot, {
        file: ROBOT_DOCKERFILE,
        exclude: IMAGE_CONTEXT_EXCLUDES,
        platform: Platform.LINUX_AMD64,
      }),
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'worker',
        logGroup: new logs.LogGroup(this, 'WorkerLogGroup', { retention: props.logRetention, removalPolicy: props.logRemovalPolicy }),
      }),
      environment: {
        [ENV.jobsTable]: props.jobsTable.tableName,
        [ENV.artifactsBucket]: props.artifactsBucket.bucketName,
        [ENV.robotQueueUrl]: props.robotQueue.queueUrl,
        [ENV.workerConcurrency]: String(props.workerConcurrency),
        // Three chances to heartbeat before the workflow fails the attempt.
        [ENV.workerHeartbeatSeconds]: String(Math.max(1, Math.floor(props.heartbeatSeconds / 3))),
        [ENV.logLevel]: props.logLevel,
        ...(props.egressAllowHosts.length > 0 ? { [ENV.egressAllowHosts]: props.egressAllowHosts.join(',') } : {}),
      },
      // Fargate's maximum: time for the worker to hand back its jobs after SIGTERM.
      stopTimeout: Duration.seconds(120),
    });
    this.grantWorkerAccess(this.taskDefinition.taskRole, props);

    this.service = new ecs.FargateService(this, 'WorkerService', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });
    this.scaleWithJobs(props);
  }

  /** Least privilege: consume the robot queue, report to the workflow, write jobs and artifacts. */
  private grantWorkerAccess(taskRole: iam.IRole, props: RobotFleetProps): void {
    props.robotQueue.grantConsumeMessages(taskRole);
    props.jobsTable.grantReadWriteData(taskRole);
    taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [props.artifactsBucket.arnForObjects('*')] }));
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        // IAM does not scope task-token calls to a resource: these actions only accept "*".
        resources: ['*'],
      }),
    );
  }

  /**
   * Scales out while jobs wait in the queue (every worker is busy), and back to the minimum only
   * once no job is waiting or running, so that a busy worker is never stopped by a scale-in.
   */
  private scaleWithJobs(props: RobotFleetProps): void {
    const perMinute = { period: Duration.minutes(1) };
    const idleOrBacklog = new cloudwatch.MathExpression({
      // -1 when idle; otherwise the backlog. FILL: an empty queue stops publishing data points.
      expression: 'IF(FILL(queued, 0) + FILL(running, 0) == 0, -1, FILL(queued, 0))',
      usingMetrics: {
        queued: props.robotQueue.metricApproximateNumberOfMessagesVisible(perMinute),
        running: props.robotQueue.metricApproximateNumberOfMessagesNotVisible(perMinute),
      },
      ...perMinute,
    });
    this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks }).scaleOnMetric('ScaleWithJobs', {
      metric: idleOrBacklog,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: -1, change: -props.maxTasks },
        { lower: 1, change: +1 },
        { lower: props.workerConcurrency * 2, change: +2 },
      ],
      cooldown: Duration.minutes(2),
    });
  }
}
