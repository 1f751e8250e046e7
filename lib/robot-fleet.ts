import { Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../core/env-names';
import { portalSessionCapsEnv, type PortalSessionCaps } from '../core/portal-session-caps';
import { acknowledge, wildcardResourceFinding } from './nag';
import { grantRobotRuntimeAccess } from './robot-runtime-access';

export interface RobotFleetProps {
  /** Repository root: the Docker build context of containers/robot/Dockerfile. */
  readonly sourceRoot: string;
  readonly robotQueue: IQueue;
  readonly jobsTable: ITableV2;
  /** Item checkpoints the worker writes as it goes. */
  readonly itemsTable: ITableV2;
  /** Per-portal session slots shared by all workers. */
  readonly leasesTable: ITableV2;
  readonly artifactsBucket: IBucket;
  /** Robots may read the Secrets Manager secrets under this name prefix, and no others (e.g. roboport/prod/robots/). */
  readonly robotSecretsPrefix: string;
  /** Sessions all robot runtimes together open against a portal host (the stage's `portalSessions`). */
  readonly portalSessions: PortalSessionCaps;
  readonly minTasks: number;
  readonly maxTasks: number;
  readonly cpu: number;
  readonly memoryMiB: number;
  /** Tasks always on on-demand Fargate; the rest is split between on-demand and Spot by weight. */
  readonly onDemandBase: number;
  readonly onDemandWeight: number;
  readonly spotWeight: number;
  readonly workerConcurrency: number;
  /** Pages of one session a robot may drive at once (the stage's `pagesPerSession`). */
  readonly pagesPerSession: number;
  /** Seconds between the worker's beats (core/delivery.ts derives its visibility and slot windows). */
  readonly workerBeatSeconds: number;
  /** The bound of a job stored without its own timeoutSeconds. */
  readonly defaultJobTimeoutSeconds: number;
  readonly egressAllowHosts: readonly string[];
  readonly logLevel: string;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  /** Encrypts the worker and VPC flow log groups. */
  readonly logEncryptionKey?: kms.IKey;
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

/** Interface endpoints keep AWS API traffic of the workers off the NAT gateway. */
const INTERFACE_ENDPOINTS = {
  Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
  StepFunctions: ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
  EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
} as const;

/**
 * The robot workers: Fargate tasks (Spot and on-demand) in private subnets that take jobs from
 * the robot queue, run the robot, upload artifacts and report to the workflow. AWS APIs are
 * reached through VPC endpoints, websites through one NAT gateway, and only on port 443.
 * The task count follows the jobs queued or running per task (see scaleWithJobs).
 */
export class RobotFleet extends Construct {
  public readonly vpc: ec2.Vpc;
  public readonly cluster: ecs.Cluster;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly service: ecs.FargateService;
  public readonly securityGroup: ec2.SecurityGroup;
  /** Tasks running now (Container Insights), for scaling and alarms. */
  public readonly runningTasks: cloudwatch.IMetric;

  constructor(scope: Construct, id: string, props: RobotFleetProps) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }] },
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }] },
      },
    });
    // Rejected connections only: enough to see what the egress rule blocks, at little cost.
    this.vpc.addFlowLog('RejectedFlowLog', {
      trafficType: ec2.FlowLogTrafficType.REJECT,
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', {
          retention: props.logRetention,
          removalPolicy: props.logRemovalPolicy,
          encryptionKey: props.logEncryptionKey,
        }),
      ),
    });
    // Robots reach websites over HTTPS only; AWS APIs are HTTPS too. A portal on another port
    // is unreachable by design (docs/deploy.md).
    this.securityGroup = new ec2.SecurityGroup(this, 'WorkerSecurityGroup', {
      vpc: this.vpc,
      description: 'Robot workers: no inbound, outbound HTTPS only',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS endpoints and websites');
    for (const [name, service] of Object.entries(INTERFACE_ENDPOINTS)) {
      const endpoint = this.vpc.addInterfaceEndpoint(`${name}Endpoint`, { service, subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, open: false });
      endpoint.connections.allowDefaultPortFrom(this.securityGroup, 'HTTPS from the robot workers');
    }

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      enableFargateCapacityProviders: true,
    });

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
        logGroup: new logs.LogGroup(this, 'WorkerLogGroup', {
          retention: props.logRetention,
          removalPolicy: props.logRemovalPolicy,
          encryptionKey: props.logEncryptionKey,
        }),
      }),
      environment: {
        [ENV.jobsTable]: props.jobsTable.tableName,
        [ENV.itemsTable]: props.itemsTable.tableName,
        [ENV.leasesTable]: props.leasesTable.tableName,
        [ENV.artifactsBucket]: props.artifactsBucket.bucketName,
        [ENV.robotQueueUrl]: props.robotQueue.queueUrl,
        [ENV.robotSecretsPrefix]: props.robotSecretsPrefix,
        ...portalSessionCapsEnv(props.portalSessions),
        [ENV.workerConcurrency]: String(props.workerConcurrency),
        [ENV.robotPagesPerSession]: String(props.pagesPerSession),
        [ENV.workerHeartbeatSeconds]: String(props.workerBeatSeconds),
        [ENV.jobTimeoutSeconds]: String(props.defaultJobTimeoutSeconds),
        [ENV.logLevel]: props.logLevel,
        // Powertools logs (core/logger.ts), in the same format and levels as the Lambdas'.
        POWERTOOLS_SERVICE_NAME: 'roboport-worker',
        POWERTOOLS_LOG_LEVEL: props.logLevel.toUpperCase(),
        ...(props.egressAllowHosts.length > 0 ? { [ENV.egressAllowHosts]: props.egressAllowHosts.join(',') } : {}),
      },
      // Fargate's maximum, and Spot's warning time: the worker hands back its jobs after SIGTERM.
      stopTimeout: Duration.seconds(120),
    });
    acknowledge(
      this.taskDefinition,
      'AwsSolutions-ECS2',
      'The environment holds resource names and tuning values only; robot credentials are read from Secrets Manager at run time.',
    );
    this.grantWorkerAccess(this.taskDefinition.taskRole, props);

    this.service = new ecs.FargateService(this, 'WorkerService', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.securityGroup],
      assignPublicIp: false,
      capacityProviderStrategies: [
        { capacityProvider: 'FARGATE', base: props.onDemandBase, weight: props.onDemandWeight },
        { capacityProvider: 'FARGATE_SPOT', weight: props.spotWeight },
      ],
      enableExecuteCommand: false,
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });
    this.runningTasks = new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: this.cluster.clusterName, ServiceName: this.service.serviceName },
      statistic: cloudwatch.Stats.AVERAGE,
      period: Duration.minutes(1),
    });
    this.scaleWithJobs(props);
  }

  /** Least privilege: consume the robot queue, plus what every robot runtime may do. */
  private grantWorkerAccess(taskRole: iam.IRole, props: RobotFleetProps): void {
    props.robotQueue.grantConsumeMessages(taskRole);
    grantRobotRuntimeAccess(taskRole, props);
    // Scale-in protection while jobs run (containers/robot/src/scale-in-protection.ts): tasks of this cluster only.
    const clusterTasks = Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` });
    taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ecs:UpdateTaskProtection', 'ecs:GetTaskProtection'], resources: [clusterTasks] }));
    acknowledge(
      taskRole.node.findChild('DefaultPolicy'),
      wildcardResourceFinding(taskRole, clusterTasks),
      'A task protects itself and its id is only known at run time; the wildcard stays inside this cluster and allows only task protection.',
    );
  }

  /**
   * Target tracking keeps (queued + running jobs) per running task at `workerConcurrency`, the
   * jobs one task runs at once: the fleet grows with the backlog and shrinks to the minimum
   * (zero in dev) once the queue has drained. Target tracking multiplies the current count, so
   * it cannot leave zero: a step action starts the first task when jobs wait and none runs.
   */
  private scaleWithJobs(props: RobotFleetProps): void {
    const target = new appscaling.ScalableTarget(this, 'WorkerScaling', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      resourceId: `service/${this.cluster.clusterName}/${this.service.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      minCapacity: props.minTasks,
      maxCapacity: props.maxTasks,
    });
    const queued = props.robotQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM });
    const running = props.robotQueue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM });

    // Metric math is not supported by the L2 target tracking policy, hence the L1 resource.
    const metricStat = (metric: cloudwatch.IMetric) => {
      const stat = metric.toMetricConfig().metricStat!;
      return {
        metric: { namespace: stat.namespace, metricName: stat.metricName, dimensions: stat.dimensions?.map(({ name, value }) => ({ name, value: String(value) })) },
        stat: stat.statistic,
      };
    };
    new appscaling.CfnScalingPolicy(this, 'BacklogPerTaskPolicy', {
      policyName: 'BacklogPerTask',
      policyType: 'TargetTrackingScaling',
      scalingTargetId: target.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: props.workerConcurrency,
        scaleOutCooldown: 60,
        scaleInCooldown: 300,
        customizedMetricSpecification: {
          metrics: [
            { id: 'queued', metricStat: metricStat(queued), returnData: false },
            { id: 'running', metricStat: metricStat(running), returnData: false },
            { id: 'tasks', metricStat: metricStat(this.runningTasks), returnData: false },
            { id: 'backlogPerTask', expression: '(FILL(queued, 0) + FILL(running, 0)) / MAX([FILL(tasks, 0), 1])', label: 'Jobs per task', returnData: true },
          ],
        },
      },
    });

    const startFirstTask = new appscaling.StepScalingAction(this, 'StartFirstTask', {
      scalingTarget: target,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.minutes(1),
    });
    startFirstTask.addAdjustment({ lowerBound: 0, adjustment: 1 });
    new cloudwatch.Alarm(this, 'JobsWaitingWithoutTask', {
      alarmDescription: 'Starts the first worker task: jobs wait and no task runs',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(tasks, 0) == 0 AND FILL(queued, 0) > 0, 1, 0)',
        usingMetrics: { tasks: this.runningTasks, queued },
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cloudwatchActions.ApplicationScalingAction(startFirstTask));
  }
}
