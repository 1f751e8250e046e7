import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import {
  deliveryTiming,
  type JobTimeouts,
  longestTaskSeconds,
  MIN_JOB_TIMEOUT_SECONDS,
  SQS_MAX_VISIBILITY_SECONDS,
  TASK_BACKSTOP_SECONDS,
} from '../core/delivery';
import { MAX_PORTAL_SESSIONS, PORTAL_HOST_PATTERN } from '../core/portal-session-caps';
import { EXECUTION_HISTORY_LIMIT, MAX_FAN_OUT_ITEMS, worstCaseHistoryEvents } from '../core/fan-out';
import { DEFAULT_WEBHOOK_RETRY } from '../core/workflow-definition';
import { DLQ_REPROCESSOR } from '../functions/api/routes';

export const STAGE_NAMES = ['dev', 'staging', 'prod'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/** Fargate's valid memory sizes (MiB) per CPU size. */
const FARGATE_MEMORY_BY_CPU: Readonly<Record<number, { min: number; max: number; step: number }>> = {
  256: { min: 512, max: 2048, step: 512 },
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16384, step: 1024 },
  4096: { min: 8192, max: 30720, step: 1024 },
};

const positiveInt = z.number().int().positive();

const throttleSchema = z
  .strictObject({ rateLimit: positiveInt, burstLimit: positiveInt })
  .refine((throttle) => throttle.burstLimit >= throttle.rateLimit, { message: 'burstLimit must be at least rateLimit', path: ['burstLimit'] });

const customDomainSchema = z.strictObject({
  name: z.string().regex(/^([a-z0-9-]+\.)+[a-z]{2,}$/, 'must be a lower-case host name such as api.example.com'),
  certificateArn: z.string().regex(/^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, 'must be an ACM certificate ARN'),
});

const robotSchema = z
  .strictObject({
    /**
     * Seconds between worker beats. A received message stays hidden, and a portal slot leased,
     * for three beats (core/delivery.ts): what a crashed worker costs in wait.
     */
    workerBeatSeconds: positiveInt.max(60),
    /** A job's bound (robot time per attempt) when its submission names none. */
    timeoutSeconds: positiveInt.min(MIN_JOB_TIMEOUT_SECONDS),
    /** The largest bound a submission may name: SQS hides a received message for at most 12 h. */
    maxTimeoutSeconds: positiveInt.min(MIN_JOB_TIMEOUT_SECONDS).max(SQS_MAX_VISIBILITY_SECONDS),
    technicalRetry: z.strictObject({
      maxAttempts: z.number().int().min(0).max(10),
      intervalSeconds: positiveInt,
      backoffRate: z.number().min(1).max(10),
    }),
    /** How a job's items are split across the fleet (core/fan-out.ts). */
    fanOut: z.strictObject({
      /** Items per chunk: one robot task, one portal session, one message. */
      chunkSize: positiveInt.min(10).max(2000),
      /** Chunks of one job at once (the Map state's MaxConcurrency; inline Map runs at most 40). */
      chunkConcurrency: positiveInt.max(40),
    }),
  })
  .superRefine(
    (robot, ctx) => {
      if (robot.timeoutSeconds > robot.maxTimeoutSeconds) {
        ctx.addIssue({ code: 'custom', path: ['timeoutSeconds'], message: 'must not exceed robot.maxTimeoutSeconds' });
      }
      const events = worstCaseHistoryEvents(MAX_FAN_OUT_ITEMS, robot.fanOut.chunkSize, robot.technicalRetry.maxAttempts, DEFAULT_WEBHOOK_RETRY.maxAttempts + 1);
      if (events > EXECUTION_HISTORY_LIMIT) {
        ctx.addIssue({
          code: 'custom',
          path: ['fanOut', 'chunkSize'],
          message: `a job of ${MAX_FAN_OUT_ITEMS} items would need up to ${events} history events, over Step Functions' ${EXECUTION_HISTORY_LIMIT}: use larger chunks`,
        });
      }
      // Holds for every value the bounds above allow; it guards changes to core/delivery.ts.
      const longestTask = longestTaskSeconds(robot.maxTimeoutSeconds, deliveryTiming(robot.workerBeatSeconds), DLQ_REPROCESSOR.timeoutSeconds);
      if (longestTask >= TASK_BACKSTOP_SECONDS) {
        ctx.addIssue({
          code: 'custom',
          path: ['maxTimeoutSeconds'],
          message: `over all its deliveries a job may take ${longestTask} s, which must stay below the RunRobot backstop of ${TASK_BACKSTOP_SECONDS} s`,
        });
      }
    },
    // Only on fields valid each: deliveryTiming refuses a beat that is not.
    { when: (payload) => payload.issues.length === 0 },
  );

const stageSettingsSchema = z
  .strictObject({
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1').optional(),
    /** What happens to the jobs table, artifacts, user pool and logs when the stack is deleted. */
    dataRemovalPolicy: z.enum(['retain', 'destroy']),
    /** Days, one of CloudWatch Logs' allowed values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...). */
    logRetentionDays: z.enum(RetentionDays),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']),
    robot: robotSchema,
    /** Robot jobs one worker task runs at once. */
    workerConcurrency: positiveInt.max(16),
    /** Pages of one signed-in browser context a robot may drive at once (bounds its pagesPerSession). */
    pagesPerSession: positiveInt.max(16),
    fleet: z.strictObject({
      minTasks: z.number().int().min(0),
      maxTasks: positiveInt.max(100),
      cpu: z.union(Object.keys(FARGATE_MEMORY_BY_CPU).map((cpu) => z.literal(Number(cpu)))),
      memoryMiB: positiveInt,
      /** Tasks always placed on on-demand Fargate; the rest is split by the weights below. */
      onDemandBase: z.number().int().min(0),
      onDemandWeight: z.number().int().min(0).max(1000),
      spotWeight: z.number().int().min(0).max(1000),
    }),
    api: z.strictObject({
      /** Every method's throttle, for all callers together (requests per second, burst). */
      throttle: throttleSchema,
      /** The throttle of one machine client's API key. */
      machineClientThrottle: throttleSchema,
      /** Requests per day one machine client's API key may make. */
      machineClientDailyQuota: positiveInt,
      /** Requests from one IP address per 5 minutes before WAF blocks it (WAF's minimum is 10). */
      wafRateLimitPer5Minutes: positiveInt.min(10),
    }),
    alarms: z.strictObject({
      /** Alarm topic subscription; unset means subscribe by hand (docs/deploy.md). */
      email: z.email().optional(),
      /** Jobs waiting for a worker this long without a break raise an alarm (checked per minute, at most a day). */
      oldestQueuedJobSeconds: positiveInt.max(24 * 3600),
      /** The fleet at its maximum for this long raises an alarm: it is too small for the load. */
      fleetAtMaxMinutes: positiveInt,
    }),
    /** SigV4 presigned URLs are valid for at most 7 days. */
    artifactUrlTtlSeconds: positiveInt.min(60).max(7 * 24 * 3600),
    /** Artifacts are deleted from S3 this many days after upload. */
    artifactRetentionDays: positiveInt,
    /** Finished jobs are deleted from the jobs table (TTL) this many days after they settle. */
    jobRetentionDays: positiveInt,
    /** Custom domain names; unset means the generated execute-api and CloudFront names. */
    domains: z
      .strictObject({
        /** The API's name; its certificate is a regional ACM certificate in the stage's region. */
        api: customDomainSchema.optional(),
        /** The console's name (CORS allows it); CloudFront takes certificates from us-east-1 only. */
        console: customDomainSchema
          .refine((domain) => domain.certificateArn.startsWith('arn:aws:acm:us-east-1:'), {
            message: 'CloudFront needs a certificate in us-east-1',
            path: ['certificateArn'],
          })
          .optional(),
      })
      .optional(),
    /**
     * Sessions all robot runtimes of the stage together open against one portal host: every chunk
     * of every job counts, whichever worker runs it. `byHost` gives a portal its own cap (keys are
     * the host of the robot's portal URL, lower case, with the port if it names one).
     */
    portalSessions: z.strictObject({
      default: positiveInt.max(MAX_PORTAL_SESSIONS),
      byHost: z.record(z.string().regex(PORTAL_HOST_PATTERN, 'must be a lower-case host or host:port'), positiveInt.max(MAX_PORTAL_SESSIONS)),
    }),
    /** host[:port] the worker's egress guard lets through although private; empty on AWS. */
    egressAllowHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be host or host:port')),
  })
  .superRefine((settings, ctx) => {
    if (settings.fleet.minTasks > settings.fleet.maxTasks) {
      ctx.addIssue({ code: 'custom', path: ['fleet', 'minTasks'], message: 'must not exceed fleet.maxTasks' });
    }
    if (settings.fleet.onDemandWeight + settings.fleet.spotWeight === 0) {
      ctx.addIssue({ code: 'custom', path: ['fleet', 'spotWeight'], message: 'fleet.onDemandWeight or fleet.spotWeight must be above 0' });
    }
    const memory = FARGATE_MEMORY_BY_CPU[settings.fleet.cpu];
    const { memoryMiB } = settings.fleet;
    if (memory && (memoryMiB < memory.min || memoryMiB > memory.max || (memoryMiB - memory.min) % memory.step !== 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['fleet', 'memoryMiB'],
        message: `Fargate cpu ${settings.fleet.cpu} takes ${memory.min}-${memory.max} MiB in steps of ${memory.step}`,
      });
    }
  });

export type StageSettings = z.infer<typeof stageSettingsSchema>;

export interface StageConfig extends Omit<StageSettings, 'dataRemovalPolicy'> {
  readonly stage: StageName;
  readonly dataRemovalPolicy: RemovalPolicy;
}

/** The stage's job bounds, as the functions that create jobs read them. */
export function jobTimeoutsOf(config: Pick<StageConfig, 'robot'>): JobTimeouts {
  return { defaultSeconds: config.robot.timeoutSeconds, maxSeconds: config.robot.maxTimeoutSeconds };
}

/**
 * Picks and validates one stage from the `stages` context of cdk.json. Throws one error that
 * lists every invalid value, so a bad config fails `cdk synth` before any construct is built.
 */
export function loadStageConfig(stage: unknown, stages: unknown): StageConfig {
  const stageName = z.enum(STAGE_NAMES).safeParse(stage);
  if (!stageName.success) {
    throw new Error(`Unknown stage "${String(stage)}": use -c stage=${STAGE_NAMES.join('|')}`);
  }
  const raw = z.record(z.string(), z.unknown()).safeParse(stages);
  if (!raw.success || raw.data[stageName.data] === undefined) {
    throw new Error(`cdk.json context "stages" has no settings for stage "${stageName.data}"`);
  }
  const settings = stageSettingsSchema.safeParse(raw.data[stageName.data]);
  if (!settings.success) {
    throw new Error(`Invalid settings for stage "${stageName.data}":\n${z.prettifyError(settings.error)}`);
  }
  return {
    ...settings.data,
    stage: stageName.data,
    dataRemovalPolicy: settings.data.dataRemovalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
  };
}
