import type { JobError, JobStatus } from './job';

/**
 * What the workflow, the robot worker and the settle steps say to each other. Payloads carry
 * the job id, never the robot input (Step Functions and SQS payloads are capped at 256 KB).
 */

/** Input of one workflow execution; the execution is named after the job. */
export interface WorkflowInput {
  jobId: string;
}

/**
 * Body of the SQS message the workflow sends to the robot fleet: the whole job (a robot without
 * items), one chunk of an item robot's items, or the finish step after every chunk.
 */
export interface RobotTaskMessage {
  jobId: string;
  taskToken: string;
  /** The items at positions [index × size, (index + 1) × size) of the robot's items. */
  chunk?: ChunkRef;
  /** Write the job's summary artifacts (robot.finish) and report the outcome from the items. */
  finish?: true;
}

export interface ChunkRef {
  index: number;
  size: number;
}

/** What PlanJob hands the workflow: one Map iteration per chunk index (ids only, never items). */
export interface JobPlan {
  jobId: string;
  /** false for robots without items: one RunRobot task runs the whole job. */
  fanOut: boolean;
  chunks: number[];
  chunkSize: number;
}

/** What the worker reports with SendTaskSuccess. */
export interface RobotResult {
  status: 'SUCCEEDED' | 'PARTIAL';
  artifactCount: number;
}

/** Error names the worker reports with SendTaskFailure; the workflow retries only TECHNICAL. */
export const RobotErrorName = {
  business: 'Robot.Business',
  technical: 'Robot.Technical',
  cancelled: 'Robot.Cancelled',
  /** The job was already settled otherwise (by another delivery): its settle step leaves it as it is. */
  jobEnded: 'Robot.JobEnded',
  /** The robot ran past the job's own timeoutSeconds: final, the job is TIMED_OUT. */
  timeout: 'Robot.Timeout',
  /** A technical failure of the DLQ reprocessor's last attempt: final, the workflow does not retry it. */
  lastAttemptFailed: 'Robot.LastAttemptFailed',
} as const;

/** Input of the finalize step (success path). */
export interface FinalizeInput {
  jobId: string;
  result: RobotResult;
}

/** Input of the fail step: the Error/Cause pair Step Functions puts in a Catch result. */
export interface FailInput {
  jobId: string;
  failure: { Error?: string; Cause?: string };
}

/** What the settle steps return; the workflow's callback choice reads `hasCallback`. */
export interface SettleOutput {
  jobId: string;
  status: JobStatus;
  error?: JobError;
  /** true when the job carries a callbackUrl: the workflow then runs NotifyWebhook. */
  hasCallback: boolean;
}

/** Input of the NotifyWebhook step. */
export interface NotifyWebhookInput {
  jobId: string;
  /** Attempts the workflow makes in all (first + retries): the last failed one gives up. */
  maxAttempts: number;
}

/** The error NotifyWebhook raises when an attempt failed and another will follow (Retry matches it). */
export const WEBHOOK_DELIVERY_FAILED = 'Webhook.DeliveryFailed';
