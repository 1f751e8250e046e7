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
  /** Which data the handler needs, so infrastructure grants exactly that. */
  access: {
    jobsTable?: 'read' | 'readWrite';
    artifactsBucket?: 'read';
    startExecution?: boolean;
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
];

/** Lambdas the workflow invokes: FinalizeJob and FailJob of core/workflow-definition.ts. */
export const WORKFLOW_FUNCTIONS = {
  finalizeJob: 'functions/workflow/finalize-job.ts',
  failJob: 'functions/workflow/fail-job.ts',
} as const;
