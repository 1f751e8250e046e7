import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TASK_BACKSTOP_SECONDS } from '../../core/delivery';
import { buildJobWorkflowDefinition, DEFAULT_WEBHOOK_RETRY } from '../../core/workflow-definition';
import type { Data } from '../../lib/data';
import type { Workflow } from '../../lib/workflow';
import { allowedActionsOf, dataAndWorkflow, functionDefaults, joinParts, logicalIdOf, stageConfig, statementsOf } from './support/cdk';

const config = stageConfig('dev');
let workflow: Workflow;
let data: Data;
let template: Template;

beforeAll(() => {
  const built = dataAndWorkflow(config, ({ key }) => ({ functionDefaults: { ...functionDefaults(config), logEncryptionKey: key }, encryptionKey: key }));
  ({ data, workflow } = built);
  template = Template.fromStack(built.stack);
});

describe('Workflow', () => {
  it('parks a robot message in the DLQ after 5 receives', () => {
    const queue = template.findResources('AWS::SQS::Queue')[logicalIdOf(workflow.robotQueue)];
    expect(queue?.Properties.RedrivePolicy).toEqual({
      maxReceiveCount: 5,
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf(workflow.robotDeadLetterQueue), 'Arn'] },
    });
  });

  it('hides a received message for three worker beats, and keeps messages 14 days, as long as its DLQ', () => {
    expect(config.robot.workerBeatSeconds).toBe(5);
    const queues = template.findResources('AWS::SQS::Queue');
    const robotQueue = queues[logicalIdOf(workflow.robotQueue)]?.Properties;
    expect(robotQueue.VisibilityTimeout).toBe(15);
    expect(robotQueue.MessageRetentionPeriod).toBe(1209600);
    expect(queues[logicalIdOf(workflow.robotDeadLetterQueue)]?.Properties.MessageRetentionPeriod).toBe(1209600);
  });

  it('deploys exactly the shared definition, wired to this queue and these functions', () => {
    const [stateMachine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const deployed = JSON.parse(joinParts(stateMachine?.Properties.DefinitionString));
    const expected = buildJobWorkflowDefinition({
      queueUrl: `<Ref:${logicalIdOf(workflow.robotQueue)}>`,
      finalizeFunctionArn: `<GetAtt:${logicalIdOf(workflow.finalizeJobFunction)}.Arn>`,
      failFunctionArn: `<GetAtt:${logicalIdOf(workflow.failJobFunction)}.Arn>`,
      planFunctionArn: `<GetAtt:${logicalIdOf(workflow.planJobFunction)}.Arn>`,
      chunkConcurrency: config.robot.fanOut.chunkConcurrency,
      notifyWebhookFunctionArn: `<GetAtt:${logicalIdOf(workflow.notifyWebhookFunction)}.Arn>`,
      webhookRetry: DEFAULT_WEBHOOK_RETRY,
      taskBackstopSeconds: TASK_BACKSTOP_SECONDS,
      technicalRetry: config.robot.technicalRetry,
    });
    expect(deployed).toEqual(expected);
  });

  it('waits for the robot without a heartbeat, up to the 14-day backstop, retrying technical failures only', () => {
    const [stateMachine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const { RunRobot: runRobot } = JSON.parse(joinParts(stateMachine?.Properties.DefinitionString)).States;
    expect(runRobot).not.toHaveProperty('HeartbeatSeconds');
    expect(runRobot).not.toHaveProperty('HeartbeatSecondsPath');
    expect(runRobot.TimeoutSeconds).toBe(1209600);
    const { maxAttempts, intervalSeconds, backoffRate } = config.robot.technicalRetry;
    expect(runRobot.Retry).toEqual([{ ErrorEquals: ['Robot.Technical'], MaxAttempts: maxAttempts, IntervalSeconds: intervalSeconds, BackoffRate: backoffRate }]);
  });

  it('notifies webhooks on both paths, retrying for hours, and still ends a failed job in the Fail state', () => {
    const [stateMachine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const { States: states } = JSON.parse(joinParts(stateMachine?.Properties.DefinitionString));
    const follow = (from: string, choice: 'callback' | 'none') => {
      const settle = states[from].Next;
      const afterChoice = choice === 'callback' ? states[settle].Choices[0].Next : states[settle].Default;
      return choice === 'callback' ? [afterChoice, states[afterChoice].Next] : [afterChoice];
    };
    expect(follow('FailJob', 'callback')).toEqual(['NotifyWebhookAfterFail', 'JobFailed']);
    expect(follow('FailJob', 'none')).toEqual(['JobFailed']);
    expect(follow('FinalizeJob', 'callback')).toEqual(['NotifyWebhookAfterFinalize', 'Done']);
    expect(states.JobFailed.Type).toBe('Fail');
    const retry = states.NotifyWebhookAfterFail.Retry.find((r: { ErrorEquals: string[] }) => r.ErrorEquals.includes('Webhook.DeliveryFailed'));
    expect(retry).toMatchObject({ MaxDelaySeconds: 3600, JitterStrategy: 'FULL' });
    const worstCaseSeconds = Array.from({ length: retry.MaxAttempts }, (_, n) => Math.min(retry.IntervalSeconds * retry.BackoffRate ** n, retry.MaxDelaySeconds)).reduce((a, b) => a + b);
    expect(worstCaseSeconds).toBeGreaterThan(3 * 3600);
  });

  it('gives the notify function the jobs, items and accounts tables and the egress allowlist', () => {
    const actions = allowedActionsOf(template, workflow.notifyWebhookFunction.role!);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:PutItem']));
    const props = template.findResources('AWS::Lambda::Function')[logicalIdOf(workflow.notifyWebhookFunction)]?.Properties;
    expect(Object.keys(props.Environment.Variables)).toEqual(expect.arrayContaining(['JOBS_TABLE_NAME', 'ITEMS_TABLE_NAME', 'ACCOUNTS_TABLE_NAME', 'EGRESS_ALLOW_HOSTS']));
  });

  it('lets the state machine send to the robot queue and invoke only the plan, settle and notify functions', () => {
    const statements = statementsOf(template, workflow.stateMachine.role);
    const resourcesFor = (action: string) =>
      statements.filter((s) => [s.Action].flat().includes(action)).flatMap((s) => [s.Resource].flat());
    expect(resourcesFor('sqs:SendMessage')).toEqual([{ 'Fn::GetAtt': [logicalIdOf(workflow.robotQueue), 'Arn'] }]);
    const invoked = JSON.stringify(resourcesFor('lambda:InvokeFunction'));
    const lambdaIds = Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => invoked.includes(id));
    expect(lambdaIds.sort()).toEqual(
      [workflow.planJobFunction, workflow.failJobFunction, workflow.finalizeJobFunction, workflow.notifyWebhookFunction].map((fn) => logicalIdOf(fn)).sort(),
    );
  });

  it('logs every execution event without payloads (task tokens stay out of logs), encrypted, and traces them', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
    const [stateMachine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const logGroupId = stateMachine?.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    expect(template.findResources('AWS::Logs::LogGroup')[logGroupId]?.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [logicalIdOf(data.key), 'Arn'] });
  });

  it('encrypts the robot queue and its DLQ with the stage key and refuses plain HTTP', () => {
    for (const queue of [workflow.robotQueue, workflow.robotDeadLetterQueue]) {
      expect(template.findResources('AWS::SQS::Queue')[logicalIdOf(queue)]?.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [logicalIdOf(data.key), 'Arn'] });
      const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).find((p) => JSON.stringify(p.Properties.Queues).includes(logicalIdOf(queue)));
      expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
  });

  it('fans item jobs out in chunks of the stage size, at most chunkConcurrency at once, each chunk retried like a robot task', () => {
    const [stateMachine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const { RunChunks: map, FinishJob: finish } = JSON.parse(joinParts(stateMachine?.Properties.DefinitionString)).States;
    expect(map).toMatchObject({ Type: 'Map', MaxConcurrency: config.robot.fanOut.chunkConcurrency, ItemsPath: '$.chunks', ResultPath: null });
    const chunk = map.ItemProcessor.States.RunChunk;
    expect(chunk).not.toHaveProperty('HeartbeatSeconds');
    expect(chunk.TimeoutSeconds).toBe(1209600);
    const { maxAttempts, intervalSeconds, backoffRate } = config.robot.technicalRetry;
    expect(chunk.Retry).toEqual([{ ErrorEquals: ['Robot.Technical'], MaxAttempts: maxAttempts, IntervalSeconds: intervalSeconds, BackoffRate: backoffRate }]);
    expect(finish.Retry).toEqual(chunk.Retry);
    const plan = template.findResources('AWS::Lambda::Function')[logicalIdOf(workflow.planJobFunction)]?.Properties;
    expect(plan.Environment.Variables).toMatchObject({ JOB_CHUNK_SIZE: String(config.robot.fanOut.chunkSize) });
    expect(plan.Timeout).toBe(180);
    // It writes the job's items, and only reads the job.
    expect(allowedActionsOf(template, workflow.planJobFunction.role!)).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:GetItem']));
  });

  it('lets the settle functions write jobs, with the table name in their environment', () => {
    for (const fn of [workflow.finalizeJobFunction, workflow.failJobFunction]) {
      expect(allowedActionsOf(template, fn.role!)).toContain('dynamodb:UpdateItem');
      const props = template.findResources('AWS::Lambda::Function')[logicalIdOf(fn)]?.Properties;
      expect(Object.keys(props.Environment.Variables)).toContain('JOBS_TABLE_NAME');
    }
  });
});
