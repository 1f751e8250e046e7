/**
 * How a job's robot task is delivered and kept alive: the timing rules the workflow, the queue,
 * the worker and the portal slots share. Pure numbers, so that every window can be unit-tested.
 *
 * Liveness is the queue's, not the task token's. The workflow's RunRobot task has no
 * HeartbeatSeconds: a heartbeat clock would start when Step Functions sends the message, so time
 * in the queue (a backlog, a fleet scaling out from zero, a worker restarting) would count
 * against it and fail jobs nobody had even tried. Instead:
 *
 * - A worker holds a message invisible for `visibilitySeconds` at a time and extends it at
 *   every beat. It beats every `beatSeconds`, so a live worker extends twice before the
 *   window could close (one slow beat is tolerated); a dead worker's message is visible again
 *   within one window, and the next worker resumes the job from its item checkpoints.
 * - A portal slot is leased for the same window and renewed at every beat: a dead worker's
 *   slots are free within one window; the job itself takes its own slot back at once.
 * - The task token waits without a heartbeat, bounded only by `taskBackstopSeconds`: the queue's
 *   retention. Before it, the message exists and some worker will report; after it, SQS has
 *   dropped the message and nobody can. The backstop therefore never ends a job that was
 *   still deliverable.
 * - A job's own bound is `timeoutSeconds` of robot time per attempt, enforced by the worker
 *   (Robot.Timeout): the only way a job that ran becomes TIMED_OUT.
 */

/** SQS: a message's visibility may be extended to at most 12 h after its receive. */
export const SQS_MAX_VISIBILITY_SECONDS = 12 * 3600;
/** SQS keeps a message at most 14 days; the robot queue keeps them that long. */
export const ROBOT_QUEUE_RETENTION_SECONDS = 14 * 24 * 3600;
/**
 * Receives of one message before SQS moves it to the DLQ (the DLQ reprocessor's last attempt).
 * A crash, a stop and a receive lost with a dying worker each count one; five leaves room for a
 * few of those while a job that kills every worker it meets still stops after five.
 */
export const ROBOT_QUEUE_MAX_RECEIVES = 5;
/**
 * One receive waits at most this long for a message. Below SQS's 20 s maximum so that a stopping
 * worker can wait for its open receive to return (and hand back what it brought) well within the
 * local supervisor's 15 s grace and Fargate's 120 s.
 */
export const LONG_POLL_SECONDS = 10;

/** Fargate (Spot) sends SIGTERM at most this long before SIGKILL (the task's stopTimeout). */
export const FARGATE_STOP_TIMEOUT_SECONDS = 120;
/**
 * After SIGTERM a worker lets running jobs reach their next safe point for this long, then aborts
 * and releases them. With the open receive it waits for first, the stop stays within the stop timeout.
 */
export const WORKER_DRAIN_SECONDS = 90;

export interface DeliveryTiming {
  /** Worker beat: extends visibility, renews portal slots, re-reads the job, probes the token. */
  beatSeconds: number;
  /** How long a received message stays hidden without a beat: the most a crash costs in wait. */
  visibilitySeconds: number;
  /** A portal slot not renewed for this long is free again. */
  slotTtlSeconds: number;
}

export function deliveryTiming(beatSeconds: number): DeliveryTiming {
  if (!Number.isInteger(beatSeconds) || beatSeconds < 1) throw new Error(`beatSeconds must be a positive integer, got ${beatSeconds}`);
  // Three beats: two extensions happen before the window closes, so one slow or failed beat is harmless.
  const window = beatSeconds * 3;
  return { beatSeconds, visibilitySeconds: window, slotTtlSeconds: window };
}

/** The default job bound and the largest a submission may ask for (per stage). */
export interface JobTimeouts {
  defaultSeconds: number;
  maxSeconds: number;
}

/** Without stage settings (the local stack, a Lambda configured without them). */
export const DEFAULT_JOB_TIMEOUTS: JobTimeouts = { defaultSeconds: 900, maxSeconds: 4 * 3600 };

/** A job bound shorter than this is a mistake (a robot cannot log in in less). */
export const MIN_JOB_TIMEOUT_SECONDS = 30;

/**
 * The longest one RunRobot task can legitimately wait: every delivery the queue allows runs to the
 * job's bound plus a window to notice a crash, then the DLQ reprocessor's last attempt. It must stay
 * below the backstop, or the backstop could end a job that is still being worked on.
 */
export function longestTaskSeconds(maxJobTimeoutSeconds: number, timing: DeliveryTiming, lastAttemptSeconds: number): number {
  return ROBOT_QUEUE_MAX_RECEIVES * (maxJobTimeoutSeconds + timing.visibilitySeconds) + lastAttemptSeconds;
}

/** The RunRobot task's TimeoutSeconds: a message older than the queue's retention is gone. */
export const TASK_BACKSTOP_SECONDS = ROBOT_QUEUE_RETENTION_SECONDS;
