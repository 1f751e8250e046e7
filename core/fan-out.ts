import { JobNotFound } from './errors';
import type { ItemStore } from './items';
import type { RobotCatalog } from './jobs';
import type { JobStore } from './ports';
import { isItemRobot } from './robot';
import type { JobPlan } from './workflow-contract';

/**
 * How a job is split for the fleet: an item robot's items in chunks of `chunkSize`, each run as one
 * robot task by whichever worker is free (core/workflow-definition.ts RunChunks). A chunk is named by
 * its index only: the worker derives its items from the job's input, the same way every time.
 */
/** The largest job the workflow is sized for (the freight robot takes 5,000 invoices; headroom for bigger robots). */
export const MAX_FAN_OUT_ITEMS = 50_000;
/** Step Functions Standard: at most 25,000 events in one execution's history. */
export const EXECUTION_HISTORY_LIMIT = 25_000;
/** Step Functions: at most 256 KiB of state input or output. */
export const STATE_PAYLOAD_LIMIT_BYTES = 256 * 1024;

/**
 * History events of one execution that fans `items` out in chunks of `chunkSize`, at worst: every
 * robot task retried `technicalRetries` times and every webhook attempt made. Per chunk: iteration
 * started/succeeded, the task's entered/scheduled/started/submitted/succeeded/exited, 4 per retry,
 * and 2 for the give-up Pass. Around it: plan, choice, map, finish, settle, webhook, end.
 */
export function worstCaseHistoryEvents(items: number, chunkSize: number, technicalRetries: number, webhookAttempts: number): number {
  const perChunk = 8 + 4 * technicalRetries + 2;
  const around = 2 + 5 + 2 + 4 + (7 + 4 * technicalRetries) + 5 + 2 + (5 + 4 * webhookAttempts) + 2;
  return Math.ceil(items / chunkSize) * perChunk + around;
}

/** The largest state payload of such an execution: PlanJob's output, the chunk indexes. */
export function planPayloadBytes(items: number, chunkSize: number): number {
  const chunks = Math.ceil(items / chunkSize);
  return JSON.stringify({ jobId: '00000000-0000-4000-8000-000000000000', fanOut: true, chunks: Array.from({ length: chunks }, (_, i) => i), chunkSize }).length;
}

export interface PlanDeps {
  store: JobStore;
  items: ItemStore;
  robots: RobotCatalog;
}

/**
 * PlanJob step: writes the job's items (PENDING), so that they can be listed and counted from the
 * start, and returns the chunk indexes. A job that cannot be split (no item robot, input that no
 * longer parses, repeated keys) runs as one task, whose robot runtime reports why.
 */
export async function planJob(deps: PlanDeps, jobId: string, chunkSize: number, now = new Date()): Promise<JobPlan> {
  const job = await deps.store.get(jobId);
  if (!job) throw new JobNotFound(jobId);
  const whole: JobPlan = { jobId, fanOut: false, chunks: [], chunkSize };
  const robot = deps.robots.find(job.robot);
  if (!robot || !isItemRobot(robot)) return whole;
  const input = robot.input.safeParse(job.input);
  if (!input.success) return whole;
  const keys = robot.items(input.data).map((item) => item.key);
  if (keys.length === 0 || new Set(keys).size !== keys.length) return whole;
  await deps.items.ensureItems(jobId, keys, now.toISOString());
  return { jobId, fanOut: true, chunks: Array.from({ length: Math.ceil(keys.length / chunkSize) }, (_, index) => index), chunkSize };
}
