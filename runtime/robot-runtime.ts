import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isItemSettled, type ItemArtifact, type ItemStore, type JobItem } from '../core/items';
import type { Job, JobError } from '../core/job';
import { recordArtifact, sha256Hex, type RobotCatalog } from '../core/jobs';
import type { Logger } from '../core/logger';
import { renewPortalLease, tryPortalSlot, waitForPortalSlot, type PortalLease, type PortalLeaseStore } from '../core/portal-lease';
import { sessionCapOf, type PortalSessionCaps } from '../core/portal-session-caps';
import type { JobStore } from '../core/ports';
import {
  ITEM_KEY_PATTERN,
  RobotError,
  SESSION_ENDED,
  businessError,
  isItemRobot,
  technicalError,
  type ItemRobot,
  type FinishContext,
  type ItemSummary,
  type JobSummary,
  type RobotContext,
  type SimpleRobot,
  type WorkItem,
} from '../core/robot';
import type { SecretSource } from '../core/secrets';
import type { ChunkRef, RobotResult } from '../core/workflow-contract';
import type { JobSession, JobSessions, SessionOptions } from './browser';
import { redactEvidence, type EvidenceFile } from './evidence-redaction';
import { credentialsReader } from './portal-credentials';
import type { PortalSessions, SessionScope } from './portal-sessions';

/**
 * The robot runtime: runs one attempt of a job's robot. Simple robots run once; item robots run
 * item by item with a checkpoint after each, so an attempt after a crash resumes where the last
 * one stopped. Independent of SQS and Step Functions (the message handler deals with those).
 */
export interface RuntimeDeps {
  s3: S3Client;
  artifactsBucket: string;
  store: JobStore;
  items: ItemStore;
  leases: PortalLeaseStore;
  secrets: SecretSource;
  /** Robots read only secrets whose names start with this; none when undefined. */
  secretsPrefix: string | undefined;
  /** Sessions all workers together may hold against one portal host (stage config `portalSessions`). */
  portalSessions: PortalSessionCaps;
  /** A portal slot not renewed for this long is free again (its worker died). */
  leaseTtlSeconds: number;
  /**
   * How long a job may wait for a portal slot before the attempt fails as PORTAL_BUSY (and is
   * retried later); undefined: as long as it takes (the worker, where waiting frees its slot).
   */
  leaseWaitMs: number | undefined;
  robots: RobotCatalog;
  sessions: JobSessions;
  /** Kept portal sessions (runtime/portal-sessions.ts); undefined: robots sign in at every attempt. */
  portalSessionReuse?: PortalSessions;
  egressAllowHosts: readonly string[];
  log: Logger;
}

/** How the message handler steers an attempt. */
export interface AttemptControl {
  /** Aborted when the attempt must end at once (job cancelled, workflow gone, stop deadline). */
  signal: AbortSignal;
  /** Aborted when the worker is shutting down: stop at the next safe point. */
  draining: AbortSignal;
  /** A safe point (between items): throws once the attempt must end, after re-reading the job. */
  checkpoint(): Promise<void>;
  /** Runs `task` with every heartbeat until the returned function is called. */
  onHeartbeat(task: () => Promise<void>): () => void;
  /** Runs a wait for a resource other jobs hold (a portal slot) off the job's clock and its worker slot. */
  whileWaiting<T>(work: () => Promise<T>): Promise<T>;
}

/** A technical error on an item is tried this often within one attempt before the attempt fails. */
const ITEM_TRIES = 2;
const ITEM_RETRY_PAUSE_MS = 1_000;
/** Read page for the item listing, well under DynamoDB's 1 MB per query. */
const ITEM_LIST_PAGE = 500;
const EVIDENCE_TIMEOUT_MS = 5_000;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * What one attempt covers: the whole job (robots without items, and messages of the time before
 * fan-out), one chunk of an item robot's items, or its finish step (core/workflow-contract.ts).
 */
export type AttemptScope = { kind: 'job' } | { kind: 'chunk'; chunk: ChunkRef } | { kind: 'finish' };

export async function runRobotJob(job: Job, deps: RuntimeDeps, attempt: AttemptControl, scope: AttemptScope = { kind: 'job' }): Promise<RobotResult> {
  const robot = deps.robots.find(job.robot);
  // Technical: a worker of another build (rolling deployment) may know the robot.
  if (!robot) throw technicalError('ROBOT_UNAVAILABLE', `This worker has no robot "${job.robot}"`);
  const input = robot.input.safeParse(job.input);
  if (!input.success) throw businessError('INPUT_INVALID', `Input no longer valid for robot ${robot.name}: ${input.error.message}`);
  const files = new JobFiles(job.jobId, deps);
  const context = jobContext(deps, job.owner, attempt.signal, files);
  if (!isItemRobot(robot)) return runSimpleRobot(robot, input.data, deps, context, files);
  const run: ItemsRun<typeof input.data> = { robot, input: input.data, job, deps, attempt, context, files };
  switch (scope.kind) {
    case 'chunk':
      await workOnItems(run, await chunkItems(run, scope.chunk), scope.chunk.index);
      return { status: 'SUCCEEDED', artifactCount: files.count };
    case 'finish':
      return finishItems(run);
    case 'job': {
      const workItems = checkedItems(robot.items(input.data));
      await deps.items.ensureItems(job.jobId, workItems.map((item) => item.key), new Date().toISOString());
      const checkpoints = await allItems(deps.items, job.jobId);
      await workOnItems(run, { all: workItems.length, todo: workItems.filter((item) => !isSettled(checkpoints.get(item.key))) });
      return finishItems(run);
    }
  }
}

async function runSimpleRobot<Input>(robot: SimpleRobot<Input>, input: Input, deps: RuntimeDeps, context: FinishContext, files: JobFiles): Promise<RobotResult> {
  return inSession(deps, context.signal, {}, async (session) => {
    const { status } = await robot.run({ ...context, page: session.page }, input);
    return { status, artifactCount: files.count };
  });
}

interface ItemsRun<Input> {
  robot: ItemRobot<Input>;
  input: Input;
  job: Job;
  deps: RuntimeDeps;
  attempt: AttemptControl;
  context: FinishContext;
  files: JobFiles;
}

interface PlannedItems {
  /** Items in the attempt's scope, done or not. */
  all: number;
  todo: WorkItem[];
}

/** The chunk's items that are not settled yet; PlanJob wrote every item, so a missing one is rare. */
async function chunkItems<Input>({ robot, input, job, deps }: ItemsRun<Input>, chunk: ChunkRef): Promise<PlannedItems> {
  const workItems = checkedItems(robot.items(input));
  const inChunk = workItems.slice(chunk.index * chunk.size, (chunk.index + 1) * chunk.size);
  let checkpoints = await deps.items.getMany(job.jobId, inChunk.map((item) => item.key));
  if (checkpoints.size < inChunk.length) {
    await deps.items.ensureItems(job.jobId, workItems.map((item) => item.key), new Date().toISOString());
    checkpoints = await deps.items.getMany(job.jobId, inChunk.map((item) => item.key));
  }
  return { all: inChunk.length, todo: inChunk.filter((item) => !isSettled(checkpoints.get(item.key))) };
}

/**
 * Runs the items of the attempt's scope in one signed-in session. The portal slot is held per
 * chunk (`<jobId>#<chunk>`), so that the chunks of one job count against the portal's cap like
 * any other sessions; a chunk delivered again takes its own slot back at once.
 */
async function workOnItems<Input>(run: ItemsRun<Input>, planned: PlannedItems, chunkIndex?: number): Promise<void> {
  const { robot, input, job, deps, attempt, context, files } = run;
  deps.log.info('items.planned', { total: planned.all, todo: planned.todo.length, ...(chunkIndex === undefined ? {} : { chunk: chunkIndex }) });
  if (planned.todo.length === 0) return;
  const holder = chunkIndex === undefined ? job.jobId : `${job.jobId}#${chunkIndex}`;
  const lease = robot.portalUrl ? await takePortalSlot(robot.portalUrl(input), holder, deps, attempt) : undefined;
  const stopRenewing = lease ? attempt.onHeartbeat(() => renewSlot(lease, deps)) : undefined;
  try {
    const scope = sessionScopeOf(robot, input, job.owner);
    const kept = scope && deps.portalSessionReuse ? await deps.portalSessionReuse.restoreSession(scope, deps.log) : undefined;
    await inSession(deps, attempt.signal, { traceItems: true, ...(kept ? { storageState: kept.state } : {}) }, async (session) => {
      const itemContext: RobotContext = { ...context, page: session.page };
      const signIn = robot.login ? portalSignIn(run, itemContext, session, scope, kept?.version) : undefined;
      if (kept) deps.log.info('portal-session.reused', { host: scope?.host });
      else await signIn?.login();
      let done = planned.all - planned.todo.length;
      for (const item of planned.todo) {
        await attempt.checkpoint();
        await runItem(robot, item, input, job.jobId, { deps, attempt, session, context: itemContext, files, ...(signIn ? { signIn } : {}) });
        context.progress(++done, planned.all);
      }
    });
  } finally {
    stopRenewing?.();
    if (lease) await deps.leases.release(lease).catch((error: unknown) => deps.log.warn('lease.release-failed', { error }));
  }
}

/**
 * After the items: the robot's summary artifacts (a manifest) and the outcome from every item.
 * Items a chunk gave up on (still PENDING) count as not done: the job is then PARTIAL or FAILED.
 */
async function finishItems<Input>({ robot, job, deps, context, files }: ItemsRun<Input>): Promise<RobotResult> {
  const summary = summarize([...(await allItems(deps.items, job.jobId)).values()]);
  await robot.finish?.(context, summary);
  const unfinished = summary.items.length - summary.succeeded - summary.failed;
  deps.log.info('items.finished', { succeeded: summary.succeeded, failed: summary.failed, unfinished });
  if (summary.failed === 0 && unfinished === 0) return { status: 'SUCCEEDED', artifactCount: files.count };
  if (summary.succeeded > 0) return { status: 'PARTIAL', artifactCount: files.count };
  const first = summary.items.find((item) => item.error)?.error;
  throw businessError('ALL_ITEMS_FAILED', `All ${summary.items.length} items failed${first ? `; first: ${first.code}: ${first.message}` : ''}`);
}

interface ItemRun {
  deps: RuntimeDeps;
  attempt: AttemptControl;
  session: JobSession;
  context: RobotContext;
  files: JobFiles;
  /** Robots that sign in: signs in again when an item finds the session ended. */
  signIn?: PortalSignIn;
}

/** The portal session a robot declares it signs in with; undefined when it keeps none. */
function sessionScopeOf<Input>(robot: ItemRobot<Input>, input: Input, owner: string): SessionScope | undefined {
  if (!robot.portalUrl || !robot.sessionCredentials) return undefined;
  return { owner, host: new URL(robot.portalUrl(input)).host, credentialsRef: robot.sessionCredentials(input) };
}

interface PortalSignIn {
  login(): Promise<void>;
  /** The session ended (the robot threw sessionEnded()): forget the kept one and sign in again. */
  relogin(): Promise<void>;
}

/**
 * Signs in with the robot's login, counts the login on the job and keeps the new session (when
 * the robot declares its credentials). A refused login throws (a business error, never tried
 * again) and leaves no kept session for those credentials.
 */
function portalSignIn<Input>(run: ItemsRun<Input>, context: RobotContext, session: JobSession, scope: SessionScope | undefined, keptVersion: string | undefined): PortalSignIn {
  const { robot, input, job, deps } = run;
  const reuse = scope ? deps.portalSessionReuse : undefined;
  let version = keptVersion;
  let logins = 0;
  const login = async () => {
    try {
      await robot.login?.(context, input);
    } catch (error) {
      if (reuse && scope && error instanceof RobotError && error.type === 'BUSINESS') await reuse.discardSession(scope);
      throw error;
    }
    await deps.store.countLogin(job.jobId);
    deps.log.info('portal.login', { host: scope?.host, attemptLogins: ++logins });
    if (!reuse || !scope) return;
    try {
      version = await reuse.saveSession(scope, await session.storageState(), deps.log);
    } catch (error) {
      // The attempt goes on signed in; the next one signs in again.
      deps.log.warn('portal-session.save-failed', { error });
    }
  };
  return {
    login,
    async relogin() {
      if (reuse && scope && version) await reuse.discardSession(scope, version);
      version = undefined;
      await login();
    },
  };
}

/**
 * One item, checkpointed: the file is stored under a key derived from the item (a repeat
 * overwrites, never duplicates) before the item is marked done. Business errors settle the item;
 * a technical error is retried once, then fails the attempt (the workflow retries the job later).
 */
async function runItem<Input>(robot: ItemRobot<Input>, item: WorkItem, input: Input, jobId: string, run: ItemRun): Promise<void> {
  const { deps, attempt, session, context, files } = run;
  const log = deps.log.child({ item: item.key });
  let signedInAgain = false;
  for (let tryNumber = 1; ; tryNumber++) {
    const begun = await deps.items.beginItem(jobId, item.key, new Date().toISOString());
    // Settled meanwhile by another delivery of this job.
    if (!begun) return;
    await session.startItemTrace(item.key);
    let failure: RobotError;
    try {
      const output = await robot.processItem(context, item, input);
      await session.stopItemTrace(false);
      const artifact = output.file ? await files.storeItemFile(item.key, output.file) : undefined;
      await deps.items.markSucceeded(jobId, item.key, artifact, new Date().toISOString());
      log.info('item.succeeded', { attempt: begun.attempts });
      return;
    } catch (error) {
      // Stopped mid-item: leave it as it was begun; the next attempt does it again.
      if (attempt.signal.aborted) throw error;
      failure = asRobotError(error);
    }
    // Once per item, so that a portal that keeps showing its login page cannot loop.
    if (failure.code === SESSION_ENDED && run.signIn && !signedInAgain) {
      signedInAgain = true;
      log.info('portal-session.ended');
      await discardTrace(session);
      await run.signIn.relogin();
      continue;
    }
    const retry = failure.type === 'TECHNICAL' && tryNumber < ITEM_TRIES;
    const evidence = retry ? await discardTrace(session) : await captureEvidence(session, files, begun, log);
    const jobError: JobError = { type: failure.type, code: failure.code, message: failure.message.slice(0, 1000) };
    log.warn('item.failed', { error: jobError, attempt: begun.attempts, retry });
    if (retry) {
      await sleep(ITEM_RETRY_PAUSE_MS, undefined, { signal: attempt.signal });
      continue;
    }
    await deps.items.markFailed(jobId, item.key, jobError, evidence, new Date().toISOString());
    if (failure.type === 'TECHNICAL') throw failure;
    return;
  }
}

/**
 * Screenshot, HTML and trace of the page as the item failed, each best effort; stored only once
 * cleared of the job's secrets and the session's cookies (evidence-redaction.ts), which the
 * tenant downloads with it. When the cookies cannot be read, nothing is stored.
 */
async function captureEvidence(session: JobSession, files: JobFiles, item: JobItem, log: Logger): Promise<ItemArtifact[]> {
  const folder = `evidence/attempt-${item.attempts}`;
  const captures: Array<[string, string, () => Promise<Uint8Array | undefined>]> = [
    ['screenshot.png', 'image/png', () => session.page.screenshot({ fullPage: true, timeout: EVIDENCE_TIMEOUT_MS })],
    ['page.html', 'text/html', async () => Buffer.from(await withTimeout(session.page.content(), EVIDENCE_TIMEOUT_MS))],
    ['trace.zip', 'application/zip', () => session.stopItemTrace(true)],
  ];
  const captured: EvidenceFile[] = [];
  for (const [name, contentType, capture] of captures) {
    try {
      const body = await capture();
      if (body) captured.push({ name, contentType, body });
    } catch (error) {
      log.warn('evidence.failed', { name, error });
    }
  }
  let cleared: EvidenceFile[];
  try {
    // Read after the trace stopped, so that the read itself is not in it.
    const cookieValues = await withTimeout(session.cookieValues(), EVIDENCE_TIMEOUT_MS);
    const started = performance.now();
    const { files: redacted, report } = await redactEvidence(captured, { secrets: files.secretValues, cookieValues });
    log.info('evidence.redacted', { ...report, ms: Math.round(performance.now() - started) });
    cleared = redacted;
  } catch (error) {
    log.warn('evidence.failed', { name: 'redaction', error });
    return [];
  }
  const evidence: ItemArtifact[] = [];
  for (const file of cleared) {
    try {
      evidence.push(await files.storeItemFile(item.key, file, folder));
    } catch (error) {
      log.warn('evidence.failed', { name: file.name, error });
    }
  }
  return evidence;
}

async function discardTrace(session: JobSession): Promise<ItemArtifact[]> {
  await session.stopItemTrace(false).catch(() => undefined);
  return [];
}

async function takePortalSlot(portalUrl: string, holder: string, deps: RuntimeDeps, attempt: AttemptControl): Promise<PortalLease> {
  const host = new URL(portalUrl).host;
  const slots = sessionCapOf(deps.portalSessions, host);
  const request = { host, holder, slots, ttlSeconds: deps.leaseTtlSeconds };
  const signal = AbortSignal.any([attempt.signal, attempt.draining]);
  try {
    // Most jobs find a free slot at once; only a real wait leaves the worker slot to others.
    const lease =
      (await tryPortalSlot(deps.leases, request)) ??
      (await attempt.whileWaiting(() =>
        waitForPortalSlot(deps.leases, request, {
          signal,
          ...(deps.leaseWaitMs === undefined ? {} : { maxWaitMs: deps.leaseWaitMs }),
          pollMs: 1_000,
          onWaiting: () => deps.log.info('lease.waiting', { host, slots }),
        }),
      ));
    deps.log.info('lease.acquired', { host, slot: lease.slot });
    return lease;
  } catch (error) {
    // Draining while waiting: end the attempt the way the handler expects (message released).
    if (attempt.draining.aborted) await attempt.checkpoint();
    throw error;
  }
}

async function renewSlot(lease: PortalLease, deps: RuntimeDeps): Promise<void> {
  try {
    if (!(await renewPortalLease(deps.leases, lease, deps.leaseTtlSeconds))) deps.log.warn('lease.lost', { host: lease.host, slot: lease.slot });
  } catch (error) {
    deps.log.warn('lease.renew-failed', { error });
  }
}

/**
 * A browser session for `use`, closed when it returns, and at once when the attempt is aborted:
 * a robot that ignores the signal then fails on its closed page instead of running on.
 */
async function inSession<T>(deps: RuntimeDeps, signal: AbortSignal, options: SessionOptions, use: (session: JobSession) => Promise<T>): Promise<T> {
  const session = await deps.sessions.open({ allowHosts: deps.egressAllowHosts, onRefused: (url, reason) => deps.log.warn('egress.refused', { url, reason }) }, options);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= session.close().catch((error: unknown) => deps.log.warn('session.close-failed', { error })));
  signal.addEventListener('abort', close, { once: true });
  try {
    return await use(session);
  } finally {
    signal.removeEventListener('abort', close);
    await close();
  }
}

/** What every robot of the job gets besides the page: files, secrets (masked in logs), progress. */
function jobContext(deps: RuntimeDeps, owner: string, signal: AbortSignal, files: JobFiles): FinishContext {
  const secretValues = files.secretValues;
  const log = deps.log.child({}, secretValues);
  return {
    signal,
    log,
    saveArtifact: (name, contentType, body) => files.storeJobFile(name, contentType, body),
    credentials: credentialsReader(deps, owner, secretValues),
    progress: (done, total) => log.info('robot.progress', { done, total }),
  };
}

/** The job's files in the artifact store: job artifacts (recorded on the job) and item files. */
class JobFiles {
  count = 0;
  /** Every value the job read from a secret: masked in its logs, removed from its evidence. */
  readonly secretValues = new Set<string>();

  constructor(
    private readonly jobId: string,
    private readonly deps: RuntimeDeps,
  ) {}

  async storeJobFile(name: string, contentType: string, body: Uint8Array): Promise<void> {
    const key = `jobs/${this.jobId}/${checkedFileName(name)}`;
    await this.put(key, contentType, body);
    await recordArtifact(this.deps.store, this.jobId, { name, contentType, size: body.byteLength, sha256: sha256Hex(body), key });
    this.deps.log.info('artifact.saved', { name, size: body.byteLength });
  }

  /** Under a key derived from the job and item only: storing it again replaces it. */
  async storeItemFile(itemKey: string, file: { name: string; contentType: string; body: Uint8Array }, folder?: string): Promise<ItemArtifact> {
    const key = ['jobs', this.jobId, 'items', itemKey, ...(folder ? [folder] : []), checkedFileName(file.name)].join('/');
    await this.put(key, file.contentType, file.body);
    return { name: file.name, contentType: file.contentType, size: file.body.byteLength, sha256: sha256Hex(file.body), key };
  }

  private async put(key: string, contentType: string, body: Uint8Array): Promise<void> {
    await this.deps.s3.send(new PutObjectCommand({ Bucket: this.deps.artifactsBucket, Key: key, Body: body, ContentType: contentType }));
    this.count += 1;
  }
}

function checkedFileName(name: string): string {
  if (!FILE_NAME.test(name)) throw technicalError('ARTIFACT_NAME_INVALID', `Artifact name "${name.slice(0, 200)}" is not a plain file name`);
  return name;
}

function checkedItems(items: WorkItem[]): WorkItem[] {
  const seen = new Set<string>();
  for (const { key } of items) {
    if (!ITEM_KEY_PATTERN.test(key)) throw businessError('INPUT_INVALID', `Item key "${key.slice(0, 200)}" is not 1-128 characters of A-Z a-z 0-9 . _ -`);
    if (seen.has(key)) throw businessError('INPUT_INVALID', `Item key "${key}" appears twice`);
    seen.add(key);
  }
  return items;
}

function isSettled(item: JobItem | undefined): boolean {
  return item !== undefined && isItemSettled(item);
}

async function allItems(store: ItemStore, jobId: string): Promise<Map<string, JobItem>> {
  const items = new Map<string, JobItem>();
  let nextToken: string | undefined;
  do {
    const page = await store.list(jobId, { limit: ITEM_LIST_PAGE, ...(nextToken ? { nextToken } : {}) });
    for (const item of page.items) items.set(item.key, item);
    nextToken = page.nextToken;
  } while (nextToken);
  return items;
}

function summarize(items: JobItem[]): JobSummary {
  const summaries = items.map(
    ({ key, status, artifact, error }): ItemSummary => ({
      key,
      status,
      ...(artifact ? { artifact: { name: artifact.name, sha256: artifact.sha256, size: artifact.size } } : {}),
      ...(error ? { error } : {}),
    }),
  );
  return {
    items: summaries,
    succeeded: summaries.filter((item) => item.status === 'SUCCEEDED').length,
    failed: summaries.filter((item) => item.status === 'FAILED').length,
  };
}

function asRobotError(error: unknown): RobotError {
  if (error instanceof RobotError) return error;
  return technicalError('ROBOT_CRASHED', error instanceof Error ? error.message : String(error));
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
