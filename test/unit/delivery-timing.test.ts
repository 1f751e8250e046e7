import { describe, expect, it } from 'vitest';
import {
  DEFAULT_JOB_TIMEOUTS,
  FARGATE_STOP_TIMEOUT_SECONDS,
  LONG_POLL_SECONDS,
  ROBOT_QUEUE_MAX_RECEIVES,
  ROBOT_QUEUE_RETENTION_SECONDS,
  SQS_MAX_VISIBILITY_SECONDS,
  TASK_BACKSTOP_SECONDS,
  WORKER_DRAIN_SECONDS,
  deliveryTiming,
  longestTaskSeconds,
} from '../../core/delivery';
import { failureOutcome } from '../../core/jobs';
import { buildJobWorkflowDefinition, DEFAULT_WEBHOOK_RETRY, WORKFLOW_STATES } from '../../core/workflow-definition';
import { RobotErrorName } from '../../core/workflow-contract';
import { DLQ_REPROCESSOR } from '../../functions/api/routes';
import { MAX_RESTART_DELAY_MS, STOP_GRACE_MS } from '../../local/worker-supervisor';

/** Beats a stage may configure (1 s in tests, 5 s by default, up to a minute). */
const BEATS = [1, 2, 5, 10, 30, 60];
/** Fargate from zero tasks: up to five minutes to the first receive. */
const SCALE_OUT_FROM_ZERO_SECONDS = 5 * 60;
const MAX_RESTART_BACKOFF_SECONDS = MAX_RESTART_DELAY_MS / 1000;
const SUPERVISOR_GRACE_SECONDS = STOP_GRACE_MS / 1000;

const definition = buildJobWorkflowDefinition({
  queueUrl: 'https://sqs.local/robot',
  finalizeFunctionArn: 'finalize',
  failFunctionArn: 'fail',
  planFunctionArn: 'plan',
  chunkConcurrency: 4,
  notifyWebhookFunctionArn: 'notify',
  taskBackstopSeconds: TASK_BACKSTOP_SECONDS,
  technicalRetry: { maxAttempts: 2, intervalSeconds: 10, backoffRate: 2 },
  webhookRetry: DEFAULT_WEBHOOK_RETRY,
});
const runRobot = definition.States[WORKFLOW_STATES.runRobot] as Record<string, unknown>;

describe('visibility window', () => {
  it.each(BEATS)('a live worker beating every %i s extends its message twice before the window could close', (beat) => {
    const { visibilitySeconds } = deliveryTiming(beat);
    // Each beat restarts the window, so a beat that comes one whole interval late still finds the message hidden.
    expect(visibilitySeconds).toBeGreaterThanOrEqual(2 * beat + beat);
    expect(visibilitySeconds).toBeLessThanOrEqual(SQS_MAX_VISIBILITY_SECONDS);
  });

  it.each(BEATS)('a dead worker (beat %i s) costs one window: its job runs again within seconds, not minutes', (beat) => {
    const { visibilitySeconds } = deliveryTiming(beat);
    // An idle worker's long poll returns as soon as the message is visible again.
    expect(visibilitySeconds).toBe(3 * beat);
    if (beat <= 5) expect(visibilitySeconds).toBeLessThanOrEqual(15);
  });

  it('rejects beats that are not positive whole seconds', () => {
    expect(() => deliveryTiming(0)).toThrow(/positive integer/);
    expect(() => deliveryTiming(1.5)).toThrow(/positive integer/);
  });
});

describe('no heartbeat on the task token', () => {
  it('RunRobot waits without HeartbeatSeconds, bounded only by the queue retention', () => {
    expect(runRobot).not.toHaveProperty('HeartbeatSeconds');
    expect(runRobot.TimeoutSeconds).toBe(ROBOT_QUEUE_RETENTION_SECONDS);
    // Only technical failures are retried; a timeout of the job's own bound is final.
    expect((runRobot.Retry as Array<{ ErrorEquals: string[] }>).flatMap((retry) => retry.ErrorEquals)).toEqual([RobotErrorName.technical]);
  });

  it.each([
    ['a backlog of a day', 24 * 3600],
    ['scale-out from zero', SCALE_OUT_FROM_ZERO_SECONDS],
    ['a crash-looping worker restarting', ROBOT_QUEUE_MAX_RECEIVES * (MAX_RESTART_BACKOFF_SECONDS + deliveryTiming(5).visibilitySeconds)],
  ])('%s before the first receive does not reach the backstop', (_name, waitSeconds) => {
    const busiest = longestTaskSeconds(DEFAULT_JOB_TIMEOUTS.maxSeconds, deliveryTiming(60), DLQ_REPROCESSOR.timeoutSeconds);
    expect(waitSeconds + busiest).toBeLessThan(TASK_BACKSTOP_SECONDS);
  });

  it('leaves room for every delivery of the longest job SQS allows, and the last attempt after them', () => {
    const longest = longestTaskSeconds(SQS_MAX_VISIBILITY_SECONDS, deliveryTiming(60), DLQ_REPROCESSOR.timeoutSeconds);
    expect(longest).toBeLessThan(TASK_BACKSTOP_SECONDS);
  });

  it('names the bound that ended a job: its own timeout or the backstop, never a lost heartbeat', () => {
    const own = failureOutcome({ Error: RobotErrorName.timeout, Cause: JSON.stringify({ code: 'JOB_TIMEOUT', message: "The robot ran longer than the job's timeoutSeconds (900 s)" }) });
    expect(own).toEqual({ status: 'TIMED_OUT', error: { type: 'TECHNICAL', code: 'JOB_TIMEOUT', message: "The robot ran longer than the job's timeoutSeconds (900 s)" } });
    const backstop = failureOutcome({ Error: 'States.Timeout', Cause: '' });
    expect(backstop).toMatchObject({ status: 'TIMED_OUT', error: { code: 'NEVER_REPORTED', message: expect.stringMatching(/retention/) } });
    expect(failureOutcome({ Error: RobotErrorName.technical, Cause: JSON.stringify({ code: 'ROBOT_CRASHED', message: 'x' }) })).toMatchObject({
      status: 'FAILED',
      error: { type: 'TECHNICAL', code: 'ROBOT_CRASHED' },
    });
  });
});

describe('portal slot expiry', () => {
  it.each(BEATS)('a dead worker’s slot (beat %i s) is free within one window, renewed twice before it by a live one', (beat) => {
    const { slotTtlSeconds, visibilitySeconds } = deliveryTiming(beat);
    expect(slotTtlSeconds).toBe(visibilitySeconds);
    expect(slotTtlSeconds).toBeGreaterThanOrEqual(3 * beat);
  });
});

describe('stopping worker', () => {
  it('waits for its open receive and drains within Fargate’s stop timeout', () => {
    expect(LONG_POLL_SECONDS + WORKER_DRAIN_SECONDS).toBeLessThan(FARGATE_STOP_TIMEOUT_SECONDS);
  });

  it('returns from its open receive before the local supervisor’s SIGKILL', () => {
    expect(LONG_POLL_SECONDS).toBeLessThan(SUPERVISOR_GRACE_SECONDS);
    expect(LONG_POLL_SECONDS).toBeLessThanOrEqual(20); // SQS's longest long poll
  });
});
