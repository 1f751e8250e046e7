import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { deliveryTiming } from '../../core/delivery';
import { pollUntil } from '../../local/emulators/poll';
import { LOCAL_S3_ACCESS_KEY } from '../../local/emulators/s3';
import type { PortalFaults, PortalStats } from '../../sandbox/freight-portal';
import { LocalClient, isTerminal } from './local-client';
import { startStackProcess, type StackProcess, type StackProcessOptions } from './stack-process';

/**
 * The chaos suite's harness (test/chaos): a stack of its own per scenario, a stream of jobs, kills,
 * a full drain, and one verification of everything a job promises, printed as a figures line.
 *
 * CHAOS_SCALE=large makes every scenario longer (more jobs, more kills, a bigger backlog);
 * CHAOS_SEED picks other kill moments and job sizes (every scenario prints the seed it used).
 */
export const CHAOS_LARGE = process.env.CHAOS_SCALE === 'large';
export const scaled = <T>(byDefault: T, large: T): T => (CHAOS_LARGE ? large : byDefault);
export const CHAOS_SEED = Number(process.env.CHAOS_SEED ?? 20_261_201);

/** A small worker beat, so that every window is seconds long. */
export const BEAT_SECONDS = 2;
/** How long a message stays hidden after the last beat (or receive) of a worker that died. */
export const WINDOW_MS = deliveryTiming(BEAT_SECONDS).visibilitySeconds * 1000;
export const WORKER_CONCURRENCY = 2;
/** Portal sessions all workers together may hold: at most this many jobs are inside an item at once. */
export const PORTAL_MAX_SESSIONS = 2;
/** The old design's heartbeat window, counted from the send: a job queued longer than this failed. */
export const OLD_HEARTBEAT_WINDOW_MS = 60_000;

const CHAOS_ENV = {
  WORKER_HEARTBEAT_SECONDS: String(BEAT_SECONDS),
  WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
  PORTAL_MAX_SESSIONS: String(PORTAL_MAX_SESSIONS),
};
/** The supervisor restarts a killed worker after at most this (its own default grows to 10 s). */
export const RESTART_PAUSE_MS = 1_000;

/** Deterministic randomness (mulberry32), so that a failing run can be repeated with its seed. */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { next, between: (min: number, max: number) => min + next() * (max - min), int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)) };
}

/** One JSON log line of the stack or its worker. `at` is its timestamp in epoch ms. */
export interface LogEvent {
  message: string;
  at: number;
  jobId?: string;
  [field: string]: unknown;
}

export interface WorkerStart {
  pid: number;
  /** When it logged worker.started: its first receive is open from about then. */
  at: number;
}

export interface WorkerKill {
  signal: NodeJS.Signals;
  pid: number;
  at: number;
  /** The worker the supervisor started instead. */
  next: WorkerStart;
}

export type ChaosStackOptions = StackProcessOptions & { workerImage?: boolean };

/** A local stack process with a signed-in client, its parsed log, its worker and its portal. */
export class ChaosStack {
  private parsedChars = 0;
  private readonly parsed: LogEvent[] = [];

  private constructor(
    readonly stack: StackProcess,
    readonly client: LocalClient,
    readonly token: string,
  ) {}

  static async start({ workerImage = false, env = {}, args = [], ...options }: ChaosStackOptions = {}): Promise<ChaosStack> {
    const started = performance.now();
    const stack = await startStackProcess({
      ...options,
      env: { ...CHAOS_ENV, ...env },
      args: ['--worker-restart-max-ms', String(RESTART_PAUSE_MS), ...(workerImage ? ['--worker-image'] : []), ...args],
    });
    try {
      const client = new LocalClient(stack.outputs);
      const chaos = new ChaosStack(stack, client, await client.signInSeeded('clients'));
      const image = /image build: .*$/m.exec(stack.output())?.[0];
      console.log(`chaos stack ready in ${Math.round(performance.now() - started)} ms${image ? `; worker ${image}` : ''}`);
      return chaos;
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }

  get outputs() {
    return this.stack.outputs;
  }

  /** Every JSON log line printed so far (the worker's and the workflow's). */
  events(): LogEvent[] {
    const output = this.stack.output();
    const end = output.lastIndexOf('\n') + 1;
    if (end > this.parsedChars) {
      for (const line of output.slice(this.parsedChars, end).split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const event = JSON.parse(line) as Record<string, unknown>;
          if (typeof event.message === 'string' && typeof event.timestamp === 'string') {
            this.parsed.push({ ...event, message: event.message, at: Date.parse(event.timestamp) });
          }
        } catch {
          // Not a log line.
        }
      }
      this.parsedChars = end;
    }
    return this.parsed;
  }

  /** A position in the log: eventsSince(mark) are the events printed after it. */
  mark(): number {
    return this.events().length;
  }

  eventsSince(mark: number, message?: string): LogEvent[] {
    return this.events()
      .slice(mark)
      .filter((event) => message === undefined || event.message === message);
  }

  /** The current worker's pid, as start.ts records it. */
  workerPid(): number {
    return Number(readFileSync(path.join(this.stack.dataDir, 'worker.pid'), 'utf8'));
  }

  /** Waits for a worker that logged worker.started after `mark` (its first receive is then open). */
  async waitForWorker(mark: number, timeoutMs = 60_000): Promise<WorkerStart> {
    const started = await pollUntil(() => this.eventsSince(mark, 'worker.started')[0], { timeoutMs, intervalMs: 50, description: 'a worker to start' });
    return { pid: this.workerPid(), at: started.at };
  }

  /** Signals the current worker and waits for the supervisor's next one to be receiving. */
  async killWorker(signal: NodeJS.Signals): Promise<WorkerKill> {
    const mark = this.mark();
    const pid = this.workerPid();
    const at = Date.now();
    process.kill(pid, signal);
    // A stopping worker may take its whole drain; a new one must start after that.
    const next = await this.waitForWorker(mark, 120_000);
    if (next.pid === pid) throw new Error(`worker ${pid} logged worker.started again after ${signal}`);
    return { signal, pid, at, next };
  }

  async portalAdmin<T = unknown>(method: string, route: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.outputs.PortalUrl}${route}`, {
      method,
      headers: { 'x-portal-admin': this.outputs.PortalAdminToken, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status !== 200) throw new Error(`portal ${method} ${route}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  setFaults(faults: PortalFaults): Promise<unknown> {
    return this.portalAdmin('POST', '/__admin/faults', faults);
  }

  portalStats(): Promise<PortalStats> {
    return this.portalAdmin<PortalStats>('GET', '/__admin/stats');
  }

  /** The robot queue's messages now: visible (waiting for a receive) and hidden (held by a receive). */
  async queueCounts(): Promise<{ visible: number; hidden: number }> {
    const queueUrl = this.outputs.RobotQueueUrl;
    const sqs = new SQSClient({ region: this.outputs.Region, endpoint: new URL(queueUrl).origin, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    sqs.destroy();
    return { visible: Number(Attributes.ApproximateNumberOfMessages), hidden: Number(Attributes.ApproximateNumberOfMessagesNotVisible) };
  }

  /** The local S3 endpoint's port, from the ports start.ts records. */
  s3Endpoint(): string {
    const ports = JSON.parse(readFileSync(path.join(this.stack.dataDir, 'ports.json'), 'utf8')) as { s3: number };
    return `http://127.0.0.1:${ports.s3}`;
  }

  /** Stops the stack; with CHAOS_LOG_DIR set, its whole output is kept there as `<name>.log`. */
  async stop(name = 'stack'): Promise<void> {
    await this.stack.stop();
    this.saveOutput(name);
  }

  saveOutput(name: string): void {
    const dir = process.env.CHAOS_LOG_DIR;
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${name}.log`), this.stack.output());
  }
}

// --- jobs ---------------------------------------------------------------------------------

export type RobotName = 'web-snapshot' | 'freight-pod-download';

export interface JobSpec {
  robot: RobotName;
  input: Record<string, unknown>;
}

export interface Accepted extends JobSpec {
  jobId: string;
  /** When POST /jobs answered 202. */
  submittedAt: number;
}

/** `count` invoice numbers the portal knows (6 digits, never starting with 404), unique per `block`. */
export const invoiceBlock = (block: number, count: number) => Array.from({ length: count }, (_, i) => String(100_000 + block * 100 + i));

export const freightJob = (chaos: ChaosStack, invoices: string[]): JobSpec => ({
  robot: 'freight-pod-download',
  input: { portalUrl: chaos.outputs.PortalUrl, credentialsSecret: chaos.outputs.PortalSecretName, invoices },
});

export const snapshotJob = (chaos: ChaosStack, page = '/'): JobSpec => ({
  robot: 'web-snapshot',
  input: { url: `${chaos.outputs.SandboxUrl}${page}`, formats: ['pdf'] },
});

export async function submit(chaos: ChaosStack, spec: JobSpec): Promise<Accepted> {
  const response = await chaos.client.api('POST', '/jobs', { token: chaos.token, body: spec });
  if (response.status !== 202) throw new Error(`POST /jobs answered ${response.status}: ${JSON.stringify(response.body)}`);
  return { ...spec, jobId: response.body.jobId as string, submittedAt: Date.now() };
}

/** Submits all, `parallel` at a time, in order of the specs. */
export async function submitAll(chaos: ChaosStack, specs: JobSpec[], parallel = 8): Promise<Accepted[]> {
  const accepted: Accepted[] = new Array(specs.length);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < specs.length; index = next++) accepted[index] = await submit(chaos, specs[index]!);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, specs.length) }, lane));
  return accepted;
}

/** Every job of the signed-in user, by id (GET /jobs, all pages). */
export async function listJobs(chaos: ChaosStack): Promise<Map<string, any>> {
  const jobs = new Map<string, any>();
  let nextToken: string | undefined;
  do {
    const query = `/jobs?limit=100${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`;
    const { status, body } = await chaos.client.api('GET', query, { token: chaos.token });
    if (status !== 200) throw new Error(`GET ${query}: ${status} ${JSON.stringify(body)}`);
    for (const job of body.jobs) jobs.set(job.jobId, job);
    nextToken = body.nextToken;
  } while (nextToken);
  return jobs;
}

export interface Drain {
  ms: number;
  /** Jobs not terminal (or not listed) when the drain gave up. */
  pending: string[];
}

/** Waits until every accepted job is terminal, or `timeoutMs` passed (then names the others). */
export async function drain(chaos: ChaosStack, accepted: Accepted[], timeoutMs: number): Promise<Drain> {
  const started = Date.now();
  let pending = accepted.map((job) => job.jobId);
  const check = async () => {
    const jobs = await listJobs(chaos);
    pending = pending.filter((jobId) => !isTerminal(jobs.get(jobId) ?? {}));
    return pending.length === 0 ? true : undefined;
  };
  await pollUntil(check, { timeoutMs, intervalMs: 1_000, description: 'every job to end' }).catch(() => undefined);
  return { ms: Date.now() - started, pending };
}

/** When each job's robot first started, from the worker's robot.started lines. */
export function robotStarts(events: LogEvent[]): Map<string, number> {
  const starts = new Map<string, number>();
  for (const event of events) if (event.message === 'robot.started' && event.jobId && !starts.has(event.jobId)) starts.set(event.jobId, event.at);
  return starts;
}

/**
 * The task a worker log line is about: a job's chunk (fan-out), its finish step, or the whole job.
 * One job can have several tasks in flight at once (its chunks, on one worker or several).
 */
export function taskKey(event: LogEvent): string {
  if (typeof event.chunk === 'number') return `${event.jobId}#chunk-${event.chunk}`;
  return typeof event.step === 'string' ? `${event.jobId}#${event.step}` : String(event.jobId);
}

/** Tasks (see taskKey) started and not yet handed back (done or released) by the end of `events` (one worker's log). */
export function tasksInFlight(events: LogEvent[]): Set<string> {
  const running = new Set<string>();
  for (const event of events) {
    if (!event.jobId) continue;
    if (event.message === 'robot.started') running.add(taskKey(event));
    if (event.message === 'message.done' || event.message === 'message.released') running.delete(taskKey(event));
  }
  return running;
}

// --- verification ---------------------------------------------------------------------------

export type Figures = Record<string, number | string>;

export interface VerifyOptions {
  /** The statuses each robot's jobs may end in. */
  expect: Partial<Record<RobotName, string[]>>;
  kills: number;
  /** Log events holding the workflow's settle lines; default the stack's own. */
  events?: LogEvent[];
  /** Portal downloads per invoice over the whole run; default the portal's stats now. */
  downloads?: Record<string, number>;
  /**
   * POD downloads beyond one per succeeded invoice that the run may cause: a worker killed between
   * a download and its checkpoint repeats that one item (at most one per running job per kill).
   */
  redownloadAllowance: number;
}

export interface Verification {
  figures: Figures;
  /** Every broken promise, one line each: the test expects none. */
  problems: string[];
  jobs: Map<string, any>;
  items: Map<string, ItemView[]>;
}

export interface ItemView {
  key: string;
  status: string;
  attempts: number;
  artifact?: { name: string; sha256: string; url: string };
  error?: { type: string; code: string; message: string };
}

const SETTLE_LINES = new Set(['job settled', 'last-attempt.settled-directly']);

/**
 * After a drain: every accepted job exists, is terminal in an expected status, is not TIMED_OUT,
 * lists each artifact once with bytes matching its sha256; each succeeded item has exactly one stored file whose bytes match its
 * sha256, and was downloaded from the portal once (plus the allowance); and the workflow settled
 * as many jobs as there are (one "job settled" line each).
 *
 * The settle lines are counted, not matched to jobs: the local stack runs its Lambda handlers
 * concurrently in one process with one Powertools logger, so an invocation's `jobId` key can be
 * reset or overwritten by another's before it logs (in Lambda, an instance serves one at a time).
 */
export async function verify(chaos: ChaosStack, accepted: Accepted[], options: VerifyOptions): Promise<Verification> {
  const problems: string[] = [];
  const jobs = new Map<string, any>();
  const items = new Map<string, ItemView[]>();
  const settleLines = (options.events ?? chaos.events()).filter((event) => SETTLE_LINES.has(event.message)).length;
  const downloads = options.downloads ?? (await chaos.portalStats()).downloads;
  const s3 = new S3Client({
    region: chaos.outputs.Region,
    endpoint: chaos.s3Endpoint(),
    forcePathStyle: true,
    credentials: { accessKeyId: LOCAL_S3_ACCESS_KEY, secretAccessKey: LOCAL_S3_ACCESS_KEY },
  });
  let lost = 0;
  let stuck = 0;
  let timedOut = 0;
  let duplicated = 0;
  let redownloads = 0;
  let resumedItems = 0;
  const byStatus = new Map<string, number>();

  for (const { jobId, robot, input } of accepted) {
    const { status: httpStatus, body: job } = await chaos.client.api('GET', `/jobs/${jobId}`, { token: chaos.token });
    if (httpStatus === 404) {
      lost++;
      problems.push(`${jobId} lost: GET /jobs/{id} is 404`);
      continue;
    }
    if (httpStatus !== 200) {
      problems.push(`${jobId}: GET /jobs/{id} answered ${httpStatus}`);
      continue;
    }
    jobs.set(jobId, job);
    byStatus.set(job.status, (byStatus.get(job.status) ?? 0) + 1);
    const said = `${jobId} (${robot}, attempts ${job.attempts})`;
    if (!isTerminal(job)) {
      stuck++;
      problems.push(`${said} stuck in ${job.status}`);
      continue;
    }
    if (job.status === 'TIMED_OUT') timedOut++;
    if (!options.expect[robot]?.includes(job.status)) problems.push(`${said} ended ${job.status}: ${JSON.stringify(job.error ?? null)}`);
    const names: string[] = job.artifacts.map((artifact: { name: string }) => artifact.name);
    if (new Set(names).size !== names.length) {
      duplicated++;
      problems.push(`${said} lists an artifact twice: ${names.join(', ')}`);
    }
    if (job.status === 'SUCCEEDED' && names.length === 0) problems.push(`${said} SUCCEEDED without artifacts`);
    for (const artifact of job.artifacts) {
      const bytes = await download(artifact.url);
      if (!bytes || sha256(bytes) !== artifact.sha256) problems.push(`${said} artifact ${artifact.name}: bytes missing or not matching sha256 ${artifact.sha256}`);
    }

    if (robot !== 'freight-pod-download') continue;
    const invoices = input.invoices as string[];
    const { status: itemsStatus, body } = await chaos.client.api('GET', `/jobs/${jobId}/items?limit=100`, { token: chaos.token });
    if (itemsStatus !== 200) {
      problems.push(`${said}: GET items answered ${itemsStatus}`);
      continue;
    }
    const jobItems: ItemView[] = body.items;
    items.set(jobId, jobItems);
    if (jobItems.map((item) => item.key).sort().join() !== [...invoices].sort().join()) problems.push(`${said} items ${jobItems.map((item) => item.key).join(',')} are not its invoices`);
    const stored = await storedItemFiles(s3, chaos.outputs.ArtifactsBucketName, jobId);
    for (const item of jobItems) {
      if (item.attempts > 1) resumedItems++;
      if (job.status === 'SUCCEEDED' && item.status !== 'SUCCEEDED') problems.push(`${said} SUCCEEDED with item ${item.key} ${item.status}`);
      if (item.status !== 'SUCCEEDED') continue;
      const files = stored.get(item.key) ?? [];
      if (files.length > 1) duplicated++;
      if (files.length !== 1) problems.push(`${said} item ${item.key} has ${files.length} stored files: ${files.join(', ')}`);
      const pdf = await download(item.artifact?.url);
      if (!pdf || sha256(pdf) !== item.artifact?.sha256 || !pdf.toString('latin1').includes(`Invoice ${item.key}`)) {
        problems.push(`${said} item ${item.key}: artifact missing or not its POD (sha256 ${item.artifact?.sha256})`);
      }
      const served = downloads[item.key] ?? 0;
      if (served < 1) problems.push(`${said} item ${item.key} SUCCEEDED but the portal served it ${served} times`);
      redownloads += Math.max(0, served - 1);
    }
  }
  if (redownloads > options.redownloadAllowance) problems.push(`${redownloads} repeated POD downloads, more than the ${options.redownloadAllowance} the kills can explain`);
  const settledJobs = accepted.length - lost - stuck;
  if (settleLines !== settledJobs) problems.push(`${settleLines} "job settled" lines for ${settledJobs} ended jobs`);
  duplicated += Math.max(0, settleLines - settledJobs);

  const figures: Figures = {
    accepted: accepted.length,
    finished: settledJobs,
    lost,
    duplicated,
    stuck,
    timedOut,
    kills: options.kills,
    settleLines,
    redownloads,
    resumedItems,
    statuses: [...byStatus].map(([status, count]) => `${status}:${count}`).join(','),
  };
  return { figures, problems, jobs, items };
}

/** Item files in S3 by item key, failure evidence left out. */
async function storedItemFiles(s3: S3Client, bucket: string, jobId: string): Promise<Map<string, string[]>> {
  const prefix = `jobs/${jobId}/items/`;
  const files = new Map<string, string[]>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const { Key } of page.Contents ?? []) {
      const [itemKey, ...rest] = (Key ?? '').slice(prefix.length).split('/');
      if (!itemKey || rest[0] === 'evidence') continue;
      files.set(itemKey, [...(files.get(itemKey) ?? []), rest.join('/')]);
    }
    token = page.NextContinuationToken;
  } while (token);
  return files;
}

async function download(url: string | undefined): Promise<Buffer | undefined> {
  if (!url) return undefined;
  const response = await fetch(url);
  return response.status === 200 ? Buffer.from(await response.arrayBuffer()) : undefined;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The figures line every scenario prints, then each problem found (the test asserts there are none). */
export function printFigures(scenario: string, figures: Figures, problems: string[] = []): void {
  console.log(`chaos ${scenario}: ${Object.entries(figures).map(([name, value]) => `${name}=${value}`).join(' ')}`);
  for (const problem of problems) console.log(`chaos ${scenario} problem: ${problem}`);
}

// --- processes (Linux /proc) ---------------------------------------------------------------------

function procStat(pid: number): { state: string; ppid: number } | undefined {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return undefined;
  try {
    const stat = readFileSync(file, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined; // exited while being read
  }
}

/** A zombie has exited: only its parent's wait is missing. */
export const isAlive = (pid: number) => {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
};

/** `rootPid` and all its descendants now (Chromium included, whatever its process group). */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    const stat = Number.isInteger(pid) ? procStat(pid) : undefined;
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  }
  const tree: number[] = [];
  const visit = (pid: number) => {
    tree.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(rootPid);
  return tree;
}
