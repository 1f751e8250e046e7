/**
 * Prints the cost of 1,000 jobs and the fixed monthly cost of each stage, from the stage config
 * in cdk.json and the state machine of core/workflow-definition.ts. The assumptions (prices and
 * the shape of a typical job) are the constants below; docs/cost-model.md explains them.
 *
 *   npx tsx scripts/cost-model.ts [stage ...]
 */
import { readFileSync } from 'node:fs';
import { type StageConfig, STAGE_NAMES, loadStageConfig } from '../lib/config';
import { TASK_BACKSTOP_SECONDS } from '../core/delivery';
import { buildJobWorkflowDefinition, DEFAULT_WEBHOOK_RETRY } from '../core/workflow-definition';

/** us-east-1 list prices (USD) as of 2025; other regions differ by up to ~30 %. */
const PRICE = {
  stateTransition: 0.025 / 1000,
  lambdaGbSecondArm: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  apiRequest: 3.5 / 1e6,
  fargateVcpuHour: 0.04048,
  fargateGbHour: 0.004445,
  /** Fargate Spot is typically ~70 % below on demand. */
  spotDiscount: 0.7,
  sqsRequest: 0.4 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  s3GbMonth: 0.023,
  natGbProcessed: 0.045,
  natHour: 0.045,
  interfaceEndpointHour: 0.01,
  logsGbIngested: 0.5,
  kmsRequest: 0.03 / 10000,
  kmsKeyMonth: 1,
  wafWebAclMonth: 5,
  wafRuleMonth: 1,
  wafRequest: 0.6 / 1e6,
  alarmMonth: 0.1,
  dashboardMonth: 3,
  cognitoPlusMau: 0.02,
} as const;

/** What one typical job does; change these to match your robots. */
const JOB = {
  robotSeconds: 45,
  /** API calls per job: submit, a few status polls, one artifact download link. */
  apiCalls: 6,
  /** Average Lambda duration (ms) and memory (MB) of the API handlers and workflow steps. */
  lambdaMs: 120,
  lambdaMb: 512,
  /** Job record writes (create, RUNNING, heartbeat bookkeeping, settle); each also updates both GSIs. */
  jobWrites: 4,
  gsiCount: 2,
  jobReads: 8,
  artifactMb: 0.3,
  /** Bytes a robot downloads from websites through the NAT gateway. */
  webTrafficMb: 4,
  logKb: 25,
  kmsRequests: 6,
  /** Share of paid task time that runs jobs: the rest is scale-out lag and the scale-in tail. */
  fleetUtilisation: 0.6,
  interfaceEndpoints: 6,
  availabilityZones: 2,
  hoursPerMonth: 730,
} as const;

/** States a successful job without callback passes through: each entered state is one transition. */
export function transitionsPerJob(): number {
  const definition = buildJobWorkflowDefinition({
    queueUrl: 'q',
    finalizeFunctionArn: 'f',
    failFunctionArn: 'x',
    planFunctionArn: 'p',
    chunkConcurrency: 1,
    notifyWebhookFunctionArn: 'n',
    taskBackstopSeconds: TASK_BACKSTOP_SECONDS,
    technicalRetry: { maxAttempts: 0, intervalSeconds: 1, backoffRate: 1 },
    webhookRetry: DEFAULT_WEBHOOK_RETRY,
  });
  const states = definition.States as Record<string, { Next?: string; Default?: string }>;
  let transitions = 0;
  for (let name: string | undefined = definition.StartAt; name !== undefined; transitions += 1) {
    const state: { Next?: string; Default?: string } | undefined = states[name];
    name = state?.Next ?? state?.Default;
  }
  return transitions;
}

/** Variable cost of 1,000 jobs and fixed cost per month, per item (USD). */
export function stageCost(config: StageConfig) {
  const jobs = 1000;
  const { cpu, memoryMiB, onDemandWeight, spotWeight } = config.fleet;
  const spotShare = spotWeight / (spotWeight + onDemandWeight);
  const taskHourPrice = (cpu / 1024) * PRICE.fargateVcpuHour + (memoryMiB / 1024) * PRICE.fargateGbHour;
  const blendedTaskHour = taskHourPrice * (1 - spotShare * PRICE.spotDiscount);
  const taskHoursPerJob = JOB.robotSeconds / 3600 / config.workerConcurrency / JOB.fleetUtilisation;
  const beats = Math.ceil(JOB.robotSeconds / config.robot.workerBeatSeconds);
  const lambdaInvocations = JOB.apiCalls + 2; // + PlanJob, FinalizeJob
  const sqsRequests = 1 + 1 + beats + 1; // send, receive, a visibility extension per beat, delete

  const per1000Jobs = {
    stepFunctions: jobs * transitionsPerJob() * PRICE.stateTransition,
    lambda: jobs * lambdaInvocations * (PRICE.lambdaRequest + (JOB.lambdaMs / 1000) * (JOB.lambdaMb / 1024) * PRICE.lambdaGbSecondArm),
    apiGatewayAndWaf: jobs * JOB.apiCalls * (PRICE.apiRequest + PRICE.wafRequest),
    fargate: jobs * taskHoursPerJob * blendedTaskHour,
    sqs: jobs * sqsRequests * PRICE.sqsRequest,
    dynamodb: jobs * (JOB.jobWrites * (1 + JOB.gsiCount) * PRICE.dynamoWriteUnit + JOB.jobReads * PRICE.dynamoReadUnit),
    s3: jobs * (PRICE.s3Put + 2 * PRICE.s3Get + (JOB.artifactMb / 1024) * PRICE.s3GbMonth * (config.artifactRetentionDays / 30)),
    natTraffic: jobs * (JOB.webTrafficMb / 1024) * PRICE.natGbProcessed,
    logs: jobs * (JOB.logKb / 1024 / 1024) * PRICE.logsGbIngested,
    kms: jobs * JOB.kmsRequests * PRICE.kmsRequest,
  };
  const hours = JOB.hoursPerMonth;
  const fixedPerMonth = {
    natGateway: hours * PRICE.natHour,
    interfaceEndpoints: hours * PRICE.interfaceEndpointHour * JOB.interfaceEndpoints * JOB.availabilityZones,
    warmWorkers: hours * config.fleet.minTasks * (config.fleet.onDemandBase >= config.fleet.minTasks ? taskHourPrice : blendedTaskHour),
    waf: 2 * (PRICE.wafWebAclMonth + 4 * PRICE.wafRuleMonth),
    kmsKey: PRICE.kmsKeyMonth,
    dashboardAndAlarms: PRICE.dashboardMonth + 45 * PRICE.alarmMonth,
  };
  return { per1000Jobs, fixedPerMonth };
}

const sum = (values: Record<string, number>) => Object.values(values).reduce((total, value) => total + value, 0);
const usd = (value: number) => `$${value.toFixed(value < 1 ? 4 : 2)}`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const stages = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')).context.stages;
  const wanted = process.argv.length > 2 ? process.argv.slice(2) : STAGE_NAMES;
  console.log(`State transitions per successful job: ${transitionsPerJob()}; job: ${JOB.robotSeconds} s robot time, ${JOB.apiCalls} API calls.\n`);
  for (const stage of wanted) {
    const config = loadStageConfig(stage, stages);
    const { per1000Jobs, fixedPerMonth } = stageCost(config);
    console.log(`${stage}: ${config.fleet.cpu / 1024} vCPU / ${config.fleet.memoryMiB / 1024} GB tasks, ${config.workerConcurrency} jobs per task`);
    for (const [item, cost] of Object.entries(per1000Jobs)) console.log(`  per 1,000 jobs  ${item.padEnd(20)} ${usd(cost)}`);
    console.log(`  per 1,000 jobs  ${'TOTAL'.padEnd(20)} ${usd(sum(per1000Jobs))}`);
    for (const [item, cost] of Object.entries(fixedPerMonth)) console.log(`  per month       ${item.padEnd(20)} ${usd(cost)}`);
    console.log(`  per month       ${'TOTAL (fixed)'.padEnd(20)} ${usd(sum(fixedPerMonth))}  (+ Cognito Plus ${usd(PRICE.cognitoPlusMau)} per monthly active user)\n`);
  }
}
