import type { APIGatewayProxyEvent } from 'aws-lambda';
import { listEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { InputInvalid } from '../../core/errors';
import { previewSpreadsheet, spreadsheetUploadOf, submitSpreadsheet } from '../../core/intake';
import { submitJob, type SubmitResult } from '../../core/jobs';
import { MAX_SPREADSHEET_BYTES } from '../../core/spreadsheet';
import { robotCatalog } from '../../robots';
import { jobStoreFromEnv, workflowStarterFromEnv, jobTimeoutsFromEnv, credentialDepsFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, headerOf, json, jsonBodyOf } from '../shared/http';
import { isMultipartForm, multipartFormOf, type MultipartLimits } from '../shared/multipart';

const deps = {
  store: jobStoreFromEnv(),
  workflow: workflowStarterFromEnv(),
  robots: robotCatalog,
  egressAllowHosts: listEnv(ENV.egressAllowHosts),
  timeouts: jobTimeoutsFromEnv(),
  credentials: credentialDepsFromEnv(),
};

/** One sheet plus the fields robot, input, column and callbackUrl, within Lambda's 6 MB event. */
const SPREADSHEET_FORM_LIMITS: MultipartLimits = { maxFileBytes: MAX_SPREADSHEET_BYTES, maxFiles: 1, maxFields: 4, maxFieldBytes: 64 * 1024 };

/**
 * POST /jobs — validates the submission and queues the job (idempotent with Idempotency-Key).
 * A multipart/form-data body takes the items from a spreadsheet; `?dryRun=true` only previews them.
 */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  const idempotencyKey = headerOf(event, 'idempotency-key');
  const dryRun = dryRunOf(event);
  if (isMultipartForm(event)) {
    const upload = spreadsheetUploadOf(await multipartFormOf(event, SPREADSHEET_FORM_LIMITS));
    if (dryRun) return json(200, await previewSpreadsheet(deps.robots, upload));
    return accepted(await submitSpreadsheet(deps, caller, upload, idempotencyKey));
  }
  if (dryRun) throw new InputInvalid('dryRun applies to spreadsheet uploads only', { fields: [{ field: 'dryRun', message: 'needs a multipart/form-data body' }] });
  return accepted(await submitJob(deps, caller, jsonBodyOf(event), idempotencyKey));
});

function accepted({ job, replayed }: SubmitResult) {
  return json(202, job, { location: `/jobs/${job.jobId}`, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) });
}

function dryRunOf(event: APIGatewayProxyEvent): boolean {
  const value = event.queryStringParameters?.dryRun;
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new InputInvalid('dryRun must be true or false', { fields: [{ field: 'dryRun', message: 'must be true or false' }] });
}
