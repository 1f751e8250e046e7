/** The job resource as GET /jobs/{jobId} returns it (README "API"; progress per CONTRACTS.md, from h3). */
import type { JobProgress } from '../core/job';
export type { JobProgress };

export interface ArtifactView {
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  url?: string;
}

export interface JobView {
  jobId: string;
  robot: string;
  status: string;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  input?: Record<string, unknown>;
  progress?: JobProgress;
  error?: { type: string; code: string; message: string };
  retryOf?: string;
  artifacts?: ArtifactView[];
}

export const TERMINAL_STATUSES = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED', 'TIMED_OUT'];
export const isTerminal = (job: Pick<JobView, 'status'>) => TERMINAL_STATUSES.includes(job.status);
