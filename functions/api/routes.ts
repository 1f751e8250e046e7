import type { z } from 'zod';
import { submissionSchema } from '../../core/jobs';

/**
 * The REST API's routes, declared once: the CDK api construct creates one Lambda and one
 * method per route from this table, and the local API Gateway emulation dispatches to the same
 * handler modules. `entry` is relative to the repository root; every handler exports `handler`.
 */
export interface ApiRoute {
  /** Stable construct id / function name suffix. */
  id: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** API Gateway resource path, with `{param}` placeholders. */
  path: string;
  entry: string;
  /** false only for the health check: every other route requires a valid Cognito token. */
  authorized: boolean;
  /** The JSON body's schema, if any: API Gateway rejects a non-matching application/json body before the handler runs. */
  jsonBodySchema?: z.ZodType;
  /** Which data the handler needs, so infrastructure grants exactly that. */
  access: {
    jobsTable?: 'read' | 'readWrite';
    itemsTable?: 'read';
    /** Webhook secrets: read and created on first use. */
    accountsTable?: 'readWrite';
    artifactsBucket?: 'read';
    startExecution?: boolean;
    /** Schedules table; `manage` adds creating and deleting their EventBridge Scheduler schedules. */
    schedules?: 'read' | 'manage';
  };
}

export const API_ROUTES: readonly ApiRoute[] = [
  { id: 'Health', method: 'GET', path: '/health', entry: 'functions/api/health.ts', authorized: false, access: {} },
  { id: 'ListRobots', method: 'GET', path: '/robots', entry: 'functions/api/list-robots.ts', authorized: true, access: {} },
  {
    id: 'SubmitJob',
    method: 'POST',
    path: '/jobs',
    entry: 'functions/api/submit-job.ts',
    authorized: true,
    jsonBodySchema: submissionSchema,
    access: { jobsTable: 'readWrite', startExecution: true },
  },
  { id: 'ListJobs', method: 'GET', path: '/jobs', entry: 'functions/api/list-jobs.ts', authorized: true, access: { jobsTable: 'read' } },
  {
    id: 'GetJob',
    method: 'GET',
    path: '/jobs/{jobId}',
    entry: 'functions/api/get-job.ts',
    authorized: true,
    access: { jobsTable: 'read', artifactsBucket: 'read' },
  },
  {
    id: 'CancelJob',
    method: 'POST',
    path: '/jobs/{jobId}/cancel',
    entry: 'functions/api/cancel-job.ts',
    authorized: true,
    access: { jobsTable: 'readWrite' },
  },
  {
    id: 'ListJobItems',
    method: 'GET',
    path: '/jobs/{jobId}/items',
    entry: 'functions/api/list-job-items.ts',
    authorized: true,
    access: { jobsTable: 'read', itemsTable: 'read', artifactsBucket: 'read' },
  },
  {
    id: 'RetryJob',
    method: 'POST',
    path: '/jobs/{jobId}/retry',
    entry: 'functions/api/retry-job.ts',
    authorized: true,
    access: { jobsTable: 'readWrite', itemsTable: 'read', startExecution: true },
  },
  {
    id: 'GetWebhookSecret',
    method: 'GET',
    path: '/webhook-secret',
    entry: 'functions/api/get-webhook-secret.ts',
    authorized: true,
    access: { accountsTable: 'readWrite' },
  },
  {
    id: 'RotateWebhookSecret',
    method: 'POST',
    path: '/webhook-secret/rotate',
    entry: 'functions/api/rotate-webhook-secret.ts',
    authorized: true,
    access: { accountsTable: 'readWrite' },
  },
  {
    id: 'CreateSchedule',
    method: 'POST',
    path: '/schedules',
    entry: 'functions/api/create-schedule.ts',
    authorized: true,
    access: { schedules: 'manage' },
  },
  { id: 'ListSchedules', method: 'GET', path: '/schedules', entry: 'functions/api/list-schedules.ts', authorized: true, access: { schedules: 'read' } },
  {
    id: 'GetSchedule',
    method: 'GET',
    path: '/schedules/{scheduleId}',
    entry: 'functions/api/get-schedule.ts',
    authorized: true,
    access: { schedules: 'read' },
  },
  {
    id: 'DeleteSchedule',
    method: 'DELETE',
    path: '/schedules/{scheduleId}',
    entry: 'functions/api/delete-schedule.ts',
    authorized: true,
    access: { schedules: 'manage' },
  },
];

/** Lambdas the workflow invokes: FinalizeJob, FailJob and NotifyWebhook of core/workflow-definition.ts. */
export const WORKFLOW_FUNCTIONS = {
  finalizeJob: 'functions/workflow/finalize-job.ts',
  failJob: 'functions/workflow/fail-job.ts',
  notifyWebhook: 'functions/workflow/notify-webhook.ts',
} as const;

/** The Lambda every EventBridge Scheduler schedule invokes (lib/schedules.ts, local/emulators/scheduler.ts). */
export const SCHEDULER_FUNCTIONS = {
  runSchedule: 'functions/scheduler/run-schedule.ts',
} as const;

/** The Lambda that consumes the robot DLQ, deployed by lib/dlq-reprocessor.ts and run locally by local/dlq-consumer.ts. */
export const DLQ_REPROCESSOR = {
  entry: 'functions/dlq/reprocess.ts',
  /** Room for a whole job of a robot; the handler drains and checkpoints before it runs out. */
  timeoutSeconds: 600,
} as const;
