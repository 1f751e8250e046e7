import { Duration } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface ObservabilityProps {
  /** Encrypts the alarm topic. */
  readonly encryptionKey: kms.IKey;
  /** Subscribed to the alarm topic when set. */
  readonly alarmEmail?: string;
  readonly restApi: apigateway.RestApi;
  /** Every Roboport Lambda: errors and throttles of each raise an alarm. */
  readonly functions: readonly lambda.IFunction[];
  readonly stateMachine: sfn.IStateMachine;
  readonly robotQueue: sqs.IQueue;
  /** Any message in one of these is a job or run that needs a look. */
  readonly deadLetterQueues: readonly sqs.IQueue[];
  readonly runningTasks: cloudwatch.IMetric;
  readonly maxTasks: number;
  /** Alarm when jobs have waited for a worker this long without a break. */
  readonly oldestQueuedJobAge: Duration;
  /** Alarm when the fleet has run at its maximum this long. */
  readonly fleetAtMaxFor: Duration;
}

/** CloudWatch takes at most 10 metrics in one alarm's math expression. */
const METRICS_PER_ALARM = 10;
const FIVE_MINUTES = Duration.minutes(5);
const ONE_MINUTE = Duration.minutes(1);

/**
 * Jobs the RunRobot backstop ended: no robot reported before the robot queue dropped their message.
 * As functions/shared/observability.ts countSettledJob emits it, with its `service` dimension.
 */
const NEVER_REPORTED_JOBS = { namespace: 'Roboport', metricName: 'JobsTimedOut', dimensionsMap: { service: 'roboport', bound: 'NEVER_REPORTED' } };

/**
 * The stage's alarms, all sent to one SNS topic (email from the stage config, or subscribe by
 * hand), and a dashboard of the job path: API → workflow → queue → fleet.
 */
export class Observability extends Construct {
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: cloudwatch.Alarm[] = [];
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Roboport alarms', masterKey: props.encryptionKey, enforceSSL: true });
    // CloudWatch publishes to an encrypted topic only if the key lets it.
    props.encryptionKey.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const { robotQueue, stateMachine, restApi } = props;
    props.deadLetterQueues.forEach((queue, index) =>
      this.alarm(`DeadLetters${index === 0 ? '' : index + 1}`, 'Messages wait in a dead-letter queue', {
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 1,
      }),
    );
    // Not the age of the oldest message: SQS counts a running job's message too, and jobs may run for hours.
    const waitingMinutes = Math.ceil(props.oldestQueuedJobAge.toSeconds() / 60);
    this.alarm('OldestQueuedJob', `Jobs have waited for a worker for ${waitingMinutes} minutes without a break`, {
      metric: robotQueue.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: cloudwatch.Stats.MINIMUM }),
      threshold: 1,
      evaluationPeriods: waitingMinutes,
    });
    this.alarm('NeverReportedJobs', 'A job timed out because the robot queue dropped its message before any robot reported', {
      metric: new cloudwatch.Metric({ ...NEVER_REPORTED_JOBS, period: FIVE_MINUTES, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
    });
    this.alarm('Api5xx', 'The API answered with a server error', {
      metric: restApi.metricServerError({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
    });
    this.alarm('FailedExecutions', 'Job workflow executions failed or timed out', {
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0)',
        usingMetrics: { failed: stateMachine.metricFailed({ period: FIVE_MINUTES }), timedOut: stateMachine.metricTimedOut({ period: FIVE_MINUTES }) },
        period: FIVE_MINUTES,
        label: 'Failed or timed-out executions',
      }),
      threshold: 1,
    });
    const fleetAtMaxMinutes = Math.max(1, Math.round(props.fleetAtMaxFor.toMinutes()));
    this.alarm('FleetAtMaximum', `The worker fleet has run at its maximum of ${props.maxTasks} tasks for ${fleetAtMaxMinutes} minutes`, {
      metric: props.runningTasks,
      threshold: props.maxTasks,
      evaluationPeriods: fleetAtMaxMinutes,
    });
    // One alarm per group of functions, not per function: a stack holds at most 500 resources, and
    // two alarms for each of ~35 functions took 70 of them. Each alarm sums its group's metrics.
    for (let start = 0, part = 1; start < props.functions.length; start += METRICS_PER_ALARM, part++) {
      const group = props.functions.slice(start, start + METRICS_PER_ALARM);
      const names = group.map((fn) => fn.node.id.replace(/Function$/, '')).join(', ');
      const sum = (label: string, metricOf: (fn: lambda.IFunction) => cloudwatch.IMetric) =>
        new cloudwatch.MathExpression({
          expression: `SUM([${group.map((_, index) => `m${index}`).join(', ')}])`,
          usingMetrics: Object.fromEntries(group.map((fn, index) => [`m${index}`, metricOf(fn)])),
          period: FIVE_MINUTES,
          label,
        });
      this.alarm(`LambdaErrors${part}`, `Lambda ${names} failed`, { metric: sum('Errors', (fn) => fn.metricErrors({ period: FIVE_MINUTES })), threshold: 1 });
      this.alarm(`LambdaThrottles${part}`, `Lambda ${names} was throttled`, {
        metric: sum('Throttles', (fn) => fn.metricThrottles({ period: FIVE_MINUTES })),
        threshold: 1,
      });
    }

    this.dashboard = this.createDashboard(props);
  }

  private alarm(id: string, description: string, options: { metric: cloudwatch.IMetric; threshold: number; evaluationPeriods?: number }): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: description,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      // An idle stage publishes no data: that is not a problem.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const action = new cloudwatchActions.SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
  }

  private createDashboard(props: ObservabilityProps): cloudwatch.Dashboard {
    const { restApi, robotQueue, stateMachine } = props;
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }));
    dashboard.addWidgets(
      graph('API requests and errors', [restApi.metricCount(), restApi.metricClientError(), restApi.metricServerError()]),
      graph('API latency (p50, p90)', [restApi.metricLatency({ statistic: 'p50' }), restApi.metricLatency({ statistic: 'p90' })]),
      graph('Job workflow', [stateMachine.metricStarted(), stateMachine.metricSucceeded(), stateMachine.metricFailed(), stateMachine.metricTimedOut()]),
    );
    dashboard.addWidgets(
      graph('Robot queue', [robotQueue.metricApproximateNumberOfMessagesVisible(), robotQueue.metricApproximateNumberOfMessagesNotVisible()], [
        robotQueue.metricApproximateAgeOfOldestMessage(),
      ]),
      new cloudwatch.GraphWidget({
        title: 'Worker tasks',
        left: [props.runningTasks],
        leftAnnotations: [{ value: props.maxTasks, label: 'fleet.maxTasks' }],
        width: 8,
        height: 6,
      }),
      graph('Dead-letter queues', props.deadLetterQueues.map((queue) => queue.metricApproximateNumberOfMessagesVisible())),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Lambda errors and throttles',
        left: props.functions.map((fn) => fn.metricErrors({ label: fn.node.id })),
        right: props.functions.map((fn) => fn.metricThrottles({ label: fn.node.id })),
        width: 24,
        height: 6,
      }),
    );
    return dashboard;
  }
}
