import * as z from 'zod';
import { credentialBodySchema, credentialNameSchema, scopeSchema, type CredentialView } from '../../core/credentials';
import type { SpreadsheetPreview } from '../../core/intake';
import type { ArchiveView } from '../../core/archive';
import { itemsQuerySchema, retryRequestSchema, type ItemListView } from '../../core/items-service';
import { redriveSchema, type DeadLetterView, type OperationsOverview } from '../../core/operations';
import { ITEM_STATUSES } from '../../core/items';
import { ATTEMPT_RUNTIMES, JOB_STATUSES, WEBHOOK_DELIVERY_STATUSES, type JobView } from '../../core/job';
import { idempotencyKeySchema, jobIdSchema, listQuerySchema as jobListQuerySchema, submissionSchema, type JobListView } from '../../core/jobs';
import { DEFAULT_SCHEDULE_LIMITS, listQuerySchema as scheduleListQuerySchema, scheduleIdSchema, scheduleSchema, type ScheduleListView } from '../../core/schedules';
import type { toWebhookSecretView } from '../../core/webhook-secrets';
import { uploadFieldsSchema } from '../../core/intake';

/**
 * The API's contract beyond what the route table (routes.ts) says: the response bodies, the
 * statuses each route answers, its query parameters and headers, and examples. The OpenAPI
 * generator (openapi.ts) and the tests read it; handlers do not import it (their bundles stay
 * small). Request bodies and query parameters are the zod schemas the handlers validate with;
 * response schemas are checked against the view types below, so neither side can change alone.
 */

// ---- responses --------------------------------------------------------------------------------

const isoDateTime = z.iso.datetime();

/** `{"error": {"code", "message", "details"?}}`: every 4xx and 5xx, from handlers and the gateway alike. */
export const errorResponseSchema = z
  .strictObject({
    error: z.strictObject({
      code: z.string().regex(/^[A-Z][A-Z0-9_]*$/).describe('Stable, machine-readable, e.g. INPUT_INVALID, JOB_NOT_FOUND'),
      message: z.string().min(1).describe('For people; may change'),
      details: z
        .unknown()
        .optional()
        .describe('For INPUT_INVALID: `fields` [{field, message}] naming each offending field (e.g. `input.url`); a spreadsheet adds `rows`'),
    }),
  })
  .meta({ examples: [{ error: { code: 'INPUT_INVALID', message: 'Input for robot web-snapshot is invalid: input.url Invalid URL', details: { fields: [{ field: 'input.url', message: 'Invalid URL' }] } } }] });

const jobErrorSchema = z.strictObject({ type: z.enum(['BUSINESS', 'TECHNICAL']), code: z.string(), message: z.string() });

const fileSchema = {
  name: z.string(),
  contentType: z.string(),
  size: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
};

export const jobSchema = z.strictObject({
  jobId: z.uuid(),
  robot: z.string(),
  status: z.enum(JOB_STATUSES),
  input: z.record(z.string(), z.unknown()),
  callbackUrl: z.string().optional(),
  timeoutSeconds: z.number().int().optional(),
  attempts: z.number().int().min(0),
  lastAttemptRuntime: z.enum(ATTEMPT_RUNTIMES).optional(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
  startedAt: isoDateTime.optional(),
  progress: z
    .strictObject({
      total: z.number().int().min(0),
      succeeded: z.number().int().min(0),
      failed: z.number().int().min(0),
      pending: z.number().int().min(0),
      itemsPerMinute: z.number().min(0),
      etaSeconds: z.number().int().min(0).optional(),
    })
    .optional()
    .describe('Item robots: counts of the job’s items'),
  error: jobErrorSchema.optional(),
  retryOf: z.uuid().optional(),
  retries: z.array(z.uuid()).optional().describe('Jobs created by POST /jobs/{jobId}/retry from this one'),
  logins: z.number().int().min(0).optional().describe('Portal logins so far (item robots); 0 when every attempt started from a kept session'),
  owner: z.string().optional().describe("Only in admins' listings (GET /jobs): the owner's user id"),
  webhook: z
    .strictObject({ status: z.enum(WEBHOOK_DELIVERY_STATUSES), attempts: z.number().int().min(0), lastAttemptAt: isoDateTime, lastError: z.string().optional() })
    .optional(),
  artifacts: z.array(z.strictObject({ ...fileSchema, url: z.url().optional().describe('Presigned download link, valid 15 minutes (GET /jobs/{jobId} only)') })),
});

const jobListSchema = z.strictObject({ jobs: z.array(jobSchema), nextToken: z.string().optional() });

const itemFileSchema = z.strictObject({ ...fileSchema, url: z.url() });
const itemListSchema = z.strictObject({
  items: z.array(
    z.strictObject({
      key: z.string(),
      status: z.enum(ITEM_STATUSES),
      attempts: z.number().int().min(0),
      artifact: itemFileSchema.optional(),
      error: jobErrorSchema.optional(),
      evidence: z.array(itemFileSchema).optional().describe('Screenshot, HTML and Playwright trace of a failed item'),
      updatedAt: isoDateTime,
    }),
  ),
  nextToken: z.string().optional(),
});

const spreadsheetPreviewSchema = z.strictObject({
  robot: z.string(),
  column: z.strictObject({ header: z.string().nullable(), letter: z.string() }),
  items: z.array(z.unknown()),
  count: z.number().int().min(0),
  duplicatesDropped: z.number().int().min(0),
  blanksDropped: z.number().int().min(0),
  errors: z.array(z.strictObject({ row: z.number().int(), value: z.string(), message: z.string() })),
});

const scheduleViewSchema = z.strictObject({
  scheduleId: z.uuid(),
  name: z.string(),
  robot: z.string(),
  input: z.record(z.string(), z.unknown()),
  callbackUrl: z.string().optional(),
  cron: z.string(),
  timezone: z.string(),
  enabled: z.boolean(),
  createdAt: isoDateTime,
  nextRunAt: isoDateTime.nullable(),
});
const scheduleListSchema = z.strictObject({ schedules: z.array(scheduleViewSchema), nextToken: z.string().optional() });

const credentialViewSchema = z.strictObject({
  name: z.string(),
  scope: z.enum(['own', 'shared']),
  ref: z.string().describe('What a job’s input names: `name`, or `shared/name`'),
  hosts: z.array(z.string()),
  updatedAt: isoDateTime,
});

const webhookSecretSchema = z.strictObject({
  secret: z.string().regex(/^whsec_/),
  createdAt: isoDateTime,
  previousSecretValidUntil: isoDateTime.optional(),
});

const healthSchema = z.strictObject({ status: z.literal('ok'), service: z.literal('roboport'), time: isoDateTime });

const robotListSchema = z.strictObject({
  robots: z.array(
    z.strictObject({
      name: z.string(),
      version: z.string(),
      description: z.string(),
      inputSchema: z.record(z.string(), z.unknown()).describe('JSON Schema (draft 2020-12) of the robot’s `input`; also under components.schemas RobotInput.<name>'),
    }),
  ),
});

/** Schemas the responses name, by component name (components.schemas); the ones nested in others become references. */
const archiveSchema = z.strictObject({
  name: z.string(),
  contentType: z.literal('application/zip'),
  size: z.number().int().min(0),
  files: z.number().int().min(0).describe('Files inside, SHA256SUMS included'),
  url: z.url().describe('Presigned download link, valid 15 minutes'),
});

const queueDepthSchema = { visible: z.number().int().min(0), inFlight: z.number().int().min(0), delayed: z.number().int().min(0) };
const jobStatusCountsSchema = z.partialRecord(z.enum(JOB_STATUSES), z.number().int().min(0));

const operationsOverviewSchema = z.strictObject({
  generatedAt: isoDateTime,
  queues: z.strictObject({
    robot: z.strictObject({ ...queueDepthSchema, oldestQueuedJobAgeSeconds: z.number().int().min(0).optional() }),
    deadLetter: z.strictObject(queueDepthSchema),
  }),
  inFlight: z.array(
    z.strictObject({
      jobId: z.uuid(),
      owner: z.string(),
      robot: z.string(),
      status: z.enum(JOB_STATUSES),
      attempts: z.number().int().min(0),
      createdAt: isoDateTime,
      startedAt: isoDateTime.optional(),
      lastAttemptRuntime: z.string().optional(),
      progress: jobSchema.shape.progress,
    }),
  ),
  throughput: z.strictObject({ windowMinutes: z.number().int(), jobsFinished: z.number().int().min(0), itemsFinished: z.number().int().min(0), byStatus: jobStatusCountsSchema }),
  portalSlots: z.array(
    z.strictObject({
      host: z.string(),
      cap: z.number().int().min(0),
      held: z.number().int().min(0),
      holders: z.array(z.strictObject({ slot: z.number().int().min(0), jobId: z.string(), expiresAt: isoDateTime })),
    }),
  ),
});

const deadLetterSchema = z.strictObject({
  messageId: z.string(),
  receiveCount: z.number().int().min(0),
  sentAt: isoDateTime.optional(),
  jobId: z.string().optional(),
  task: z.enum(['job', 'chunk', 'finish', 'unknown']),
  chunk: z.number().int().min(0).optional(),
  job: z
    .strictObject({ status: z.enum(JOB_STATUSES), robot: z.string(), owner: z.string(), attempts: z.number().int().min(0), lastAttemptRuntime: z.string().optional() })
    .optional(),
  reason: z.string(),
});
const deadLetterListSchema = z.strictObject({ messages: z.array(deadLetterSchema) });
const redriveResultSchema = z.strictObject({ redriven: z.array(z.string()).describe('Ids of the messages moved back to the robot queue') });

export const RESPONSE_SCHEMAS = {
  // One component for the many timestamps (zod's ISO 8601 pattern is long).
  DateTime: isoDateTime,
  Error: errorResponseSchema,
  Health: healthSchema,
  RobotList: robotListSchema,
  Job: jobSchema,
  JobList: jobListSchema,
  SpreadsheetPreview: spreadsheetPreviewSchema,
  JobItemList: itemListSchema,
  WebhookSecret: webhookSecretSchema,
  Schedule: scheduleViewSchema,
  ScheduleList: scheduleListSchema,
  Credential: credentialViewSchema,
  CredentialList: z.strictObject({ secrets: z.array(credentialViewSchema) }),
  Archive: archiveSchema,
  OperationsOverview: operationsOverviewSchema,
  DeadLetterList: deadLetterListSchema,
  RedriveResult: redriveResultSchema,
  OpenApiDocument: z.looseObject({ openapi: z.string(), info: z.record(z.string(), z.unknown()), paths: z.record(z.string(), z.unknown()) }),
} as const;

/**
 * Compile-time guard: a response schema has exactly the keys of the view type the handler
 * returns, and the two are assignable both ways. A field added to a view without its schema
 * (or the reverse) fails `npm run typecheck`.
 */
type Same<View, Schema extends z.ZodType> = [keyof View] extends [keyof z.output<Schema>]
  ? [keyof z.output<Schema>] extends [keyof View]
    ? [View] extends [z.output<Schema>]
      ? [z.output<Schema>] extends [View]
        ? true
        : false
      : false
    : false
  : false;
export const RESPONSE_TYPES_MATCH: [
  Same<JobView, typeof jobSchema>,
  Same<JobListView, typeof jobListSchema>,
  Same<ItemListView, typeof itemListSchema>,
  Same<SpreadsheetPreview, typeof spreadsheetPreviewSchema>,
  Same<ScheduleListView, typeof scheduleListSchema>,
  Same<CredentialView, typeof credentialViewSchema>,
  Same<ReturnType<typeof toWebhookSecretView>, typeof webhookSecretSchema>,
  Same<ArchiveView, typeof archiveSchema>,
  Same<OperationsOverview, typeof operationsOverviewSchema>,
  Same<{ messages: DeadLetterView[] }, typeof deadLetterListSchema>,
] = [true, true, true, true, true, true, true, true, true, true];

export type ResponseSchemaName = keyof typeof RESPONSE_SCHEMAS;

// ---- parameters -------------------------------------------------------------------------------

/** Path parameters by name, with an example each; a name not listed is a string of 1-256 characters (functions/shared/http.ts pathParam). */
export const PATH_PARAMETERS: Record<string, { schema: z.ZodType; example: string }> = {
  jobId: { schema: jobIdSchema, example: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e' },
  scheduleId: { schema: scheduleIdSchema, example: '7a1c2d3e-5f60-4718-8293-a4b5c6d7e8f9' },
  name: { schema: credentialNameSchema, example: 'acme-portal' },
};

export const DEFAULT_PATH_PARAMETER = z.string().min(1).max(256);

const credentialScopeQuery = z.strictObject({ scope: scopeSchema.describe('`shared`: the shared credentials (admins write them)') });

// ---- examples ---------------------------------------------------------------------------------

/** An input per robot, valid for its schema (a unit test parses each with the robot's own). */
export const ROBOT_INPUT_EXAMPLES: Record<string, Record<string, unknown>> = {
  'web-snapshot': { url: 'https://example.com/', formats: ['pdf', 'png'] },
  'freight-pod-download': { portalUrl: 'https://portal.carrier.example/', credentialsSecret: 'acme-portal', invoices: ['123456', '987654321'] },
};

/** The credentials the freight example names: PUT /secrets/acme-portal creates them, bound to the portal's host. */
const CREDENTIAL_EXAMPLE = { username: 'robot@acme.example', password: 'Example-Passw0rd-1', hosts: ['portal.carrier.example'] };

// ---- per-route contract -----------------------------------------------------------------------

/** Operation groups, in the order the document lists them; every contract's `tag` is one of these. */
export const TAGS = {
  Service: 'Health and this document; public',
  Robots: 'What robots there are and what input each takes',
  Jobs: 'Submit jobs, follow them and their work items, download what they produced',
  Webhooks: 'The secret that signs the job.finished webhook',
  Schedules: 'Recurring jobs',
  Credentials: 'Portal credentials robots sign in with: write-only values bound to portal hosts',
  'Machine clients': 'The authorized routes under /machine for machine clients (AWS only): client-credentials token and API key',
  Operations: 'Administrators only: queues, dead letters and their redrive, running work, portal session slots',
} as const;

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503;

export interface RouteContract {
  summary: string;
  description?: string;
  tag: Exclude<keyof typeof TAGS, 'Machine clients'>;
  /** Query parameters: the zod object the handler parses the query string with. */
  query?: z.ZodObject;
  /** Request headers the route reads. */
  headers?: Record<string, { schema: z.ZodType; description: string }>;
  /** A JSON body; routes with `jsonBodySchema` in the route table use that schema. */
  jsonBody?: { schema?: z.ZodType; examples: Record<string, { summary: string; value: unknown }> };
  /** A multipart/form-data body: its text fields' schema, and the file part. */
  multipartBody?: { fields: z.ZodObject; file: string; example: Record<string, string> };
  /** Success statuses: the schema of the body (none for 204), response headers. */
  success: Partial<Record<200 | 201 | 202 | 204, { description: string; schema?: ResponseSchemaName; headers?: Record<string, string> }>>;
  /**
   * Errors the route's handler answers. The generator adds those of the gateway: 401 (routes with
   * a token), 400 (malformed path parameter), 429 (throttled), 403 (machine routes: key or scope).
   */
  errors: ErrorStatus[];
}

const JOB_CREATED_HEADERS = { Location: 'The job: /jobs/{jobId}', 'Idempotent-Replayed': '`true` when an Idempotency-Key replay returned the job created earlier' };
const IDEMPOTENCY_KEY = {
  'Idempotency-Key': {
    schema: idempotencyKeySchema,
    description: 'Makes retries safe: the same key with the same body returns the same job; with another body, 409',
  },
};

/** Keyed by route id (routes.ts); a route without an entry fails test/unit/openapi.test.ts. */
export const ROUTE_CONTRACTS: Record<string, RouteContract> = {
  Health: { summary: 'Liveness check', tag: 'Service', success: { 200: { description: 'Up', schema: 'Health' } }, errors: [] },
  OpenApi: {
    summary: 'This OpenAPI document',
    tag: 'Service',
    success: { 200: { description: 'The OpenAPI 3.1 document of the API', schema: 'OpenApiDocument' } },
    errors: [],
  },
  ListRobots: {
    summary: 'List the robots, with their input JSON Schema',
    tag: 'Robots',
    success: { 200: { description: 'The robots', schema: 'RobotList' } },
    errors: [],
  },
  SubmitJob: {
    summary: 'Submit a job',
    description:
      'A JSON submission, or a multipart/form-data upload whose spreadsheet column (.xlsx or .csv) fills the robot’s items field; with `dryRun=true` the upload is only previewed (200) and no job is created.',
    tag: 'Jobs',
    query: z.strictObject({ dryRun: z.enum(['true', 'false']).optional().describe('Spreadsheet uploads only: preview the items, create nothing') }),
    headers: IDEMPOTENCY_KEY,
    jsonBody: {
      examples: Object.fromEntries(
        Object.entries(ROBOT_INPUT_EXAMPLES).map(([robot, input]) => [robot, { summary: `A ${robot} job`, value: { robot, input } }]),
      ),
    },
    multipartBody: {
      fields: uploadFieldsSchema,
      file: 'The sheet (.xlsx or .csv, at most 4 MiB); its column `column` (default: a header like `invoice` or `NOTA FISCAL`) becomes the items',
      example: {
        robot: 'freight-pod-download',
        input: JSON.stringify({ portalUrl: 'https://portal.carrier.example/', credentialsSecret: 'acme-portal' }),
        file: 'invoice,customer\n123456,ACME\n987654321,Beta\n',
      },
    },
    success: {
      202: { description: 'Queued (or, with a replayed Idempotency-Key, the job created earlier)', schema: 'Job', headers: JOB_CREATED_HEADERS },
      200: { description: 'Dry run: the items the sheet would give', schema: 'SpreadsheetPreview' },
    },
    errors: [400, 409, 413, 415, 503],
  },
  ListJobs: {
    summary: 'List jobs, newest first',
    description: 'The caller’s jobs; members of `admins` see everyone’s.',
    tag: 'Jobs',
    query: jobListQuerySchema,
    success: { 200: { description: 'A page of jobs', schema: 'JobList' } },
    errors: [400],
  },
  GetJob: { summary: 'Get a job with its artifacts', tag: 'Jobs', success: { 200: { description: 'The job', schema: 'Job' } }, errors: [404] },
  CancelJob: {
    summary: 'Cancel a queued or running job',
    tag: 'Jobs',
    success: { 200: { description: 'Cancelled', schema: 'Job' } },
    errors: [404, 409],
  },
  ListJobItems: {
    summary: 'List a job’s work items',
    tag: 'Jobs',
    query: itemsQuerySchema,
    success: { 200: { description: 'A page of items in submission order', schema: 'JobItemList' } },
    errors: [400, 404],
  },
  ArchiveJob: {
    summary: 'Download every file of a finished job as one ZIP',
    description: 'Its artifacts and its items’ files, with a SHA256SUMS file, zipped server-side and stored as jobs/<jobId>/all-files.zip.',
    tag: 'Jobs',
    success: { 200: { description: 'The archive, with a presigned link', schema: 'Archive' } },
    errors: [404, 409, 413],
  },
  RetryJob: {
    summary: 'Retry the items that did not succeed, as a new job',
    description: '`scope` "technical" (the default, also without a body): items that failed technically and items never run; "all-failed": every item that did not succeed. The original lists the new job in `retries`.',
    tag: 'Jobs',
    headers: IDEMPOTENCY_KEY,
    jsonBody: {
      schema: retryRequestSchema,
      examples: { technical: { summary: 'Technical failures only (the default)', value: { scope: 'technical' } }, allFailed: { summary: 'Every failed item', value: { scope: 'all-failed' } } },
    },
    success: { 202: { description: 'The new job (`retryOf` names the original)', schema: 'Job', headers: JOB_CREATED_HEADERS } },
    errors: [400, 404, 409, 503],
  },
  GetWebhookSecret: {
    summary: 'Get your webhook signing secret',
    tag: 'Webhooks',
    success: { 200: { description: 'The secret (created on first use)', schema: 'WebhookSecret' } },
    errors: [503],
  },
  RotateWebhookSecret: {
    summary: 'Rotate your webhook signing secret',
    tag: 'Webhooks',
    success: { 200: { description: 'The new secret; the previous one keeps signing for 24 hours', schema: 'WebhookSecret' } },
    errors: [503],
  },
  CreateSchedule: {
    summary: 'Create a recurring job',
    tag: 'Schedules',
    jsonBody: {
      // The stored job submission is validated exactly as POST /jobs (validateSubmission).
      schema: scheduleSchema(DEFAULT_SCHEDULE_LIMITS).extend({
        robot: submissionSchema.shape.robot,
        input: submissionSchema.shape.input,
        callbackUrl: submissionSchema.shape.callbackUrl,
      }),
      examples: {
        weekdays: {
          summary: 'A snapshot every weekday at 06:00 in Lisbon',
          value: { name: 'Morning snapshot', robot: 'web-snapshot', input: ROBOT_INPUT_EXAMPLES['web-snapshot'], cron: 'cron(0 6 ? * MON-FRI *)', timezone: 'Europe/Lisbon' },
        },
      },
    },
    success: { 201: { description: 'Created', schema: 'Schedule', headers: { Location: 'The schedule: /schedules/{scheduleId}' } } },
    errors: [400, 413, 415, 503],
  },
  ListSchedules: {
    summary: 'List schedules, newest first',
    tag: 'Schedules',
    query: scheduleListQuerySchema,
    success: { 200: { description: 'A page of schedules', schema: 'ScheduleList' } },
    errors: [400],
  },
  GetSchedule: { summary: 'Get a schedule', tag: 'Schedules', success: { 200: { description: 'The schedule with its next run', schema: 'Schedule' } }, errors: [404] },
  DeleteSchedule: { summary: 'Delete a schedule', tag: 'Schedules', success: { 204: { description: 'Deleted' } }, errors: [404] },
  ListSecrets: {
    summary: 'List your portal credentials and the shared ones (metadata only)',
    tag: 'Credentials',
    success: { 200: { description: 'Credentials, never their values', schema: 'CredentialList' } },
    errors: [],
  },
  PutSecret: {
    summary: 'Create or rotate portal credentials',
    description: 'Write-only: the answer holds metadata, never the values. The credentials are typed only into pages of the bound `hosts`.',
    tag: 'Credentials',
    query: credentialScopeQuery,
    jsonBody: { schema: credentialBodySchema, examples: { portal: { summary: 'Credentials for a freight portal', value: CREDENTIAL_EXAMPLE } } },
    success: { 201: { description: 'Created', schema: 'Credential' }, 200: { description: 'Rotated', schema: 'Credential' } },
    errors: [400, 403, 413, 415],
  },
  GetSecret: {
    summary: 'Get portal credentials’ metadata',
    tag: 'Credentials',
    query: credentialScopeQuery,
    success: { 200: { description: 'Metadata, never the values', schema: 'Credential' } },
    errors: [400, 404],
  },
  DeleteSecret: {
    summary: 'Delete portal credentials (at once)',
    tag: 'Credentials',
    query: credentialScopeQuery,
    success: { 204: { description: 'Deleted' } },
    errors: [400, 403, 404],
  },
  OpsOverview: {
    summary: 'Operations overview: queues, running jobs, last hour’s throughput, portal session slots',
    tag: 'Operations',
    success: { 200: { description: 'The figures now', schema: 'OperationsOverview' } },
    errors: [403],
  },
  OpsListDeadLetters: {
    summary: 'Messages in the robot dead-letter queue, with their job and reason (read without taking them)',
    tag: 'Operations',
    success: { 200: { description: 'At most 50 dead letters', schema: 'DeadLetterList' } },
    errors: [403],
  },
  OpsRedriveDeadLetters: {
    summary: 'Move one dead letter (`messageId`) or all of them back to the robot queue',
    tag: 'Operations',
    jsonBody: { schema: redriveSchema, examples: { one: { summary: 'One message', value: { messageId: '0b1f6c52-5a0e-4d3b-9a43-1c2d3e4f5a6b' } }, all: { summary: 'Every dead letter', value: {} } } },
    success: { 200: { description: 'The messages moved (none when they were moved before)', schema: 'RedriveResult' } },
    errors: [400, 403],
  },
};
