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
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway resource path, with `{param}` placeholders. */
  path: string;
  entry: string;
  /** false only for the health check and the OpenAPI document: every other route requires a valid Cognito token. */
  authorized: boolean;
  /** Only members of the admins group may call it: everyone else gets 403 (the handler checks). */
  adminOnly?: true;
  /** The JSON body's schema, if any: API Gateway rejects a non-matching application/json body before the handler runs. */
  jsonBodySchema?: z.ZodType;
  /** Which data the handler needs, so infrastructure grants exactly that. */
  access: {
    jobsTable?: 'read' | 'readWrite';
    itemsTable?: 'read';
    /** Webhook secrets: read and created on first use. */
    accountsTable?: 'readWrite';
    /** `read` presigns downloads; `archive` also writes each job's `all-files.zip` (core/archive.ts). */
    artifactsBucket?: 'read' | 'archive';
    startExecution?: boolean;
    /** Schedules table; `manage` adds creating and deleting their EventBridge Scheduler schedules. */
    schedules?: 'read' | 'manage';
    /**
     * Portal credentials under the robot-secrets prefix (core/credentials.ts): `check` reads their
     * bindings (jobs that name credentials), `manage` also writes values and deletes. Never the values.
     */
    credentials?: 'check' | 'manage';
    /** The key that signs the listing's nextToken cursors (a secret, read once per process). */
    pageCursorKey?: boolean;
    /** The robot queue and its DLQ: `inspect` reads depths and peeks dead letters, `redrive` also moves them back. */
    robotQueues?: 'inspect' | 'redrive';
    /** Portal session slots (core/portal-lease.ts), read by the operations overview. */
    leasesTable?: 'read';
  };
  /**
   * Packages shipped beside the function's bundle instead of inside it (lib/roboport-function.ts
   * nodeModules): heavy ones that only some requests load, with a dynamic import.
   */
  nodeModules?: string[];
  /** Memory and time of the route's Lambda when the defaults (512 MB, 28 s) do not fit its bounded work. */
  sizing?: { memoryMiB: number; timeoutSeconds: number };
}

export const API_ROUTES: readonly ApiRoute[] = [
  { id: 'Health', method: 'GET', path: '/health', entry: 'functions/api/health.ts', authorized: false, access: {} },
  // Public: the OpenAPI document (docs/openapi.json, generated from this table by `npm run openapi`).
  { id: 'OpenApi', method: 'GET', path: '/openapi.json', entry: 'functions/api/get-openapi.ts', authorized: false, access: {} },
  { id: 'ListRobots', method: 'GET', path: '/robots', entry: 'functions/api/list-robots.ts', authorized: true, access: {} },
  {
    id: 'SubmitJob',
    method: 'POST',
    path: '/jobs',
    entry: 'functions/api/submit-job.ts',
    authorized: true,
    jsonBodySchema: submissionSchema,
    access: { jobsTable: 'readWrite', startExecution: true, credentials: 'check' },
    // Only spreadsheet uploads read them (core/spreadsheet.ts imports them on demand): beside the
    // bundle, they cost JSON submissions neither bundle size nor cold start.
    nodeModules: ['exceljs', 'jszip'],
    // Spreadsheet intake (core/spreadsheet.ts) inflates at most 8 MiB and parses that in about 2 s
    // and 250 MB at worst; 1024 MB leaves room for the 6 MB event and gives the CPU to do it in time.
    sizing: { memoryMiB: 1024, timeoutSeconds: 15 },
  },
  { id: 'ListJobs', method: 'GET', path: '/jobs', entry: 'functions/api/list-jobs.ts', authorized: true, access: { jobsTable: 'read', pageCursorKey: true } },
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
    access: { jobsTable: 'read', itemsTable: 'read', artifactsBucket: 'read', pageCursorKey: true },
  },
  {
    id: 'ArchiveJob',
    method: 'POST',
    path: '/jobs/{jobId}/archive',
    entry: 'functions/api/archive-job.ts',
    authorized: true,
    access: { jobsTable: 'read', itemsTable: 'read', artifactsBucket: 'archive' },
    // Reads up to 200 MiB of files and zips them in memory (core/archive.ts MAX_ARCHIVE_BYTES).
    sizing: { memoryMiB: 1024, timeoutSeconds: 28 },
  },
  {
    id: 'RetryJob',
    method: 'POST',
    path: '/jobs/{jobId}/retry',
    entry: 'functions/api/retry-job.ts',
    authorized: true,
    access: { jobsTable: 'readWrite', itemsTable: 'read', startExecution: true, credentials: 'check' },
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
    access: { schedules: 'manage', credentials: 'check' },
  },
  {
    id: 'ListSchedules',
    method: 'GET',
    path: '/schedules',
    entry: 'functions/api/list-schedules.ts',
    authorized: true,
    access: { schedules: 'read', pageCursorKey: true },
  },
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
  { id: 'ListSecrets', method: 'GET', path: '/secrets', entry: 'functions/api/list-secrets.ts', authorized: true, access: { credentials: 'manage' } },
  { id: 'PutSecret', method: 'PUT', path: '/secrets/{name}', entry: 'functions/api/put-secret.ts', authorized: true, access: { credentials: 'manage' } },
  { id: 'GetSecret', method: 'GET', path: '/secrets/{name}', entry: 'functions/api/get-secret.ts', authorized: true, access: { credentials: 'manage' } },
  { id: 'DeleteSecret', method: 'DELETE', path: '/secrets/{name}', entry: 'functions/api/delete-secret.ts', authorized: true, access: { credentials: 'manage' } },
  // Operations (admins only; the handlers answer 403 to everyone else).
  {
    id: 'OpsOverview',
    method: 'GET',
    path: '/ops/overview',
    entry: 'functions/api/ops-overview.ts',
    authorized: true,
    adminOnly: true,
    access: { jobsTable: 'read', robotQueues: 'inspect', leasesTable: 'read' },
  },
  { id: 'OpsListDeadLetters', method: 'GET', path: '/ops/dlq', entry: 'functions/api/ops-list-dead-letters.ts', authorized: true, adminOnly: true, access: { jobsTable: 'read', robotQueues: 'inspect' } },
  { id: 'OpsRedriveDeadLetters', method: 'POST', path: '/ops/dlq/redrive', entry: 'functions/api/ops-redrive-dead-letters.ts', authorized: true, adminOnly: true, access: { robotQueues: 'redrive' } },
];

/** Lambdas the workflow invokes: FinalizeJob, FailJob and NotifyWebhook of core/workflow-definition.ts. */
export const WORKFLOW_FUNCTIONS = {
  planJob: 'functions/workflow/plan-job.ts',
  finalizeJob: 'functions/workflow/finalize-job.ts',
  failJob: 'functions/workflow/fail-job.ts',
  notifyWebhook: 'functions/workflow/notify-webhook.ts',
} as const;

/** Lambdas of the live job events WebSocket API (lib/job-events.ts); the local stack serves the same protocol itself (local/events-server.ts). */
export const EVENTS_FUNCTIONS = {
  authorize: 'functions/events/authorize.ts',
  connections: 'functions/events/connections.ts',
  fanOut: 'functions/events/fan-out.ts',
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
