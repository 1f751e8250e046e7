import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isItemSettled, type ItemArtifact, type ItemStore, type JobItem } from '../core/items';
import type { Job, JobError } from '../core/job';
import { recordArtifact, sha256Hex, type RobotCatalog } from '../core/jobs';
import type { Logger } from '../core/logger';
import { ITEM_RETRY, isTechnicalFailure, PortalHealth, withRetries, type RetryOptions } from '../core/page-retry';
import { renewPortalLease, tryPortalSlot, waitForPortalSlot, type PortalLease, type PortalLeaseStore } from '../core/portal-lease';
import { sessionCapOf, type PortalSessionCaps } from '../core/portal-session-caps';
import type { JobStore } from '../core/ports';
import type { Page } from 'playwright-core';
import {
  ITEM_KEY_PATTERN,
  RobotError,
  SESSION_ENDED,
  businessError,
  isItemRobot,
  technicalError,
  type ItemRobot,
  type FinishContext,
  type ItemOutput,
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
import type { PortalSessions, SessionScope, StorageState } from './portal-sessions';

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
  /** Stage bound on the pages of one session a robot drives at once (its `pagesPerSession`); 1 when unset. */
  maxPagesPerSession?: number;
  /** A page is replaced by a fresh one after this many items; default PAGE_RECYCLE_AFTER_ITEMS. */
  recyclePageAfterItems?: number;
  /** The wait between tries (tests pass one that does not sleep); rejects when `signal` aborts. */
  pause?(ms: number, signal: AbortSignal): Promise<void>;
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

/**
 * Items one page serves before it is closed and replaced: the renderer of a page grows by about
 * 1.8 MiB per item loaded (bench/evidence-cost.ts, docs/BENCHMARKS.md), so a page stays under
 * ~90 MiB of growth; a new page in the same context stays signed in and costs a few ms.
 */
export const PAGE_RECYCLE_AFTER_ITEMS = 50;
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
  const { robot, input, job, deps, attempt } = run;
  deps.log.info('items.planned', { total: planned.all, todo: planned.todo.length, ...(chunkIndex === undefined ? {} : { chunk: chunkIndex }) });
  if (planned.todo.length === 0) return;
  const holder = chunkIndex === undefined ? job.jobId : `${job.jobId}#${chunkIndex}`;
  const lease = robot.portalUrl ? await takePortalSlot(robot.portalUrl(input), holder, deps, attempt) : undefined;
  const stopRenewing = lease ? attempt.onHeartbeat(() => renewSlot(lease, deps)) : undefined;
  try {
    const kept = await restoreKeptSession(run);
    await inSession(deps, attempt.signal, { traceItems: true, ...(kept?.state ? { storageState: kept.state } : {}) }, (session) =>
      runItemsInSession(run, planned, session, kept),
    );
  } finally {
    stopRenewing?.();
    if (lease) await deps.leases.release(lease).catch((error: unknown) => deps.log.warn('lease.release-failed', { error }));
  }
}

/** What the items of one session share: the run, the session, its sign-in and the signal that stops them. */
interface SessionRun<Input> extends ItemsRun<Input> {
  session: JobSession;
  portal: PortalSignIn;
  /** Aborted when the attempt is, or when one page failed the attempt: the other pages stop too. */
  signal: AbortSignal;
}

/**
 * The items on `pages` pages of one signed-in context at once (the robot's pagesPerSession, capped
 * by the stage): each page takes the next item when it is done with one. An item that fails
 * technically after its tries is FAILED and the others go on; only a portal that looks down
 * (PortalHealth), a refused login or the end of the attempt stops every page.
 */
async function runItemsInSession<Input>(run: ItemsRun<Input>, planned: PlannedItems, session: JobSession, kept: KeptSession | undefined): Promise<void> {
  const { robot, deps, attempt, context } = run;
  const stop = new AbortController();
  const signal = AbortSignal.any([attempt.signal, stop.signal]);
  const portal = new PortalSignIn((page) => signIn(run, session, page, signal, kept), signal);
  const sessionRun: SessionRun<Input> = { ...run, session, portal, signal };
  if (kept?.state) deps.log.info('portal-session.reused', { host: kept.scope.host });
  else if (robot.login) {
    await portal.renew(portal.generation, session.page).catch((error: unknown) => {
      throw error instanceof SignInFailed ? error.failure : error;
    });
  }
  const pageCount = Math.max(1, Math.min(robot.pagesPerSession ?? 1, deps.maxPagesPerSession ?? 1, planned.todo.length));
  const pages = [session.page, ...(await Promise.all(Array.from({ length: pageCount - 1 }, () => session.newPage())))];
  const recycleAfter = deps.recyclePageAfterItems ?? PAGE_RECYCLE_AFTER_ITEMS;
  const health = new PortalHealth();
  let next = 0;
  let done = planned.all - planned.todo.length;
  let failure: { error: unknown } | undefined;

  const drivePage = async (first: Page) => {
    let page = first;
    for (let served = 1; !signal.aborted; served++) {
      // A stopping worker takes no new item, but lets the items under way on the other pages
      // finish: the checkpoint below would end the whole attempt (and close their pages) at once.
      if (attempt.draining.aborted || next >= planned.todo.length) return;
      const item = planned.todo[next++]!;
      await attempt.checkpoint();
      const outcome = await runItem(sessionRun, item, page);
      if (outcome === 'SUCCEEDED') health.success();
      else if (outcome === 'BUSINESS') health.businessFailure();
      else if (outcome === 'TECHNICAL' && health.technicalFailure()) throw portalDown(health);
      context.progress(++done, planned.all);
      if (served % recycleAfter === 0 && next < planned.todo.length) page = await session.replacePage(page);
    }
  };
  deps.log.info('items.pages', { pages: pageCount });
  await Promise.all(
    pages.map((page) =>
      drivePage(page).catch((error: unknown) => {
        failure ??= { error };
        stop.abort();
      }),
    ),
  );
  if (failure) throw failure.error;
  // Stopped with items left: end the attempt now that no page has one under way (the message goes back).
  if (next < planned.todo.length) await attempt.checkpoint();
  // Every item failed technically and none succeeded: the portal is down, not the data wrong.
  if (health.downAtEnd()) throw portalDown(health);
}

function portalDown(health: PortalHealth): RobotError {
  return technicalError('PORTAL_DOWN', `The portal looks down: ${health.describe()}`);
}

/**
 * The portal session a robot declares it signs in with (`sessionCredentials`), and its kept state
 * when one is stored and unexpired (runtime/portal-sessions.ts): the session then opens signed in.
 */
interface KeptSession {
  reuse: PortalSessions;
  scope: SessionScope;
  /** The restored state; undefined when none was kept (the attempt signs in first). */
  state?: StorageState;
  /** The stored version this run started from or saved last: what an ended session discards. */
  version?: string;
}

async function restoreKeptSession<Input>({ robot, input, job, deps }: ItemsRun<Input>): Promise<KeptSession | undefined> {
  const reuse = deps.portalSessionReuse;
  if (!reuse || !robot.portalUrl || !robot.sessionCredentials) return undefined;
  const scope: SessionScope = { owner: job.owner, host: new URL(robot.portalUrl(input)).host, credentialsRef: robot.sessionCredentials(input) };
  const restored = await reuse.restoreSession(scope, deps.log);
  return { reuse, scope, ...(restored ? { state: restored.state, version: restored.version } : {}) };
}

/**
 * Signs the session in with the robot's login, technical failures tried again with the item
 * policy (a refused login is a business error: never tried again). The one place where the
 * session is signed in: the kept session it replaces is discarded first, each login is counted on
 * the job, and the new state is kept; a refused login leaves no kept session for its credentials.
 */
async function signIn<Input>(run: ItemsRun<Input>, session: JobSession, page: Page, signal: AbortSignal, kept: KeptSession | undefined): Promise<void> {
  const { robot, input, context, deps, job } = run;
  const login = robot.login;
  if (!login) return;
  if (kept?.version) {
    await kept.reuse.discardSession(kept.scope, kept.version).catch((error: unknown) => deps.log.warn('portal-session.discard-failed', { error }));
    kept.version = undefined;
  }
  try {
    await withRetries(() => login({ ...context, page }, input), retryOptions(deps, signal, deps.log.child({ step: 'login' })));
  } catch (error) {
    if (kept && error instanceof RobotError && error.type === 'BUSINESS') await kept.reuse.discardSession(kept.scope).catch(() => undefined);
    throw error;
  }
  await deps.store.countLogin(job.jobId);
  deps.log.info('portal.signed-in', kept ? { host: kept.scope.host } : {});
  if (!kept) return;
  try {
    kept.version = await kept.reuse.saveSession(kept.scope, await session.storageState(), deps.log);
  } catch (error) {
    // The attempt goes on signed in; the next one signs in again.
    deps.log.warn('portal-session.save-failed', { error });
  }
}

/** A login that failed for good: ends the attempt, never settles the item that asked for it. */
class SignInFailed extends Error {
  constructor(readonly failure: unknown) {
    super('sign-in failed');
  }
}

/**
 * The session's sign-in, single flight: pages whose items found the session ended all wait on
 * one login, and a page whose item started before the latest login repeats without another.
 * A failed login is remembered: every later request gets the same failure, no new login.
 */
class PortalSignIn {
  /** Logins done so far: an item notes it before it starts. */
  generation = 0;
  private flight: Promise<void> | undefined;
  private failed: SignInFailed | undefined;

  constructor(
    private readonly login: (page: Page) => Promise<void>,
    private readonly signal: AbortSignal,
  ) {}

  /** Signs in again on `page` unless someone did since `seen`, or joins the login under way. */
  async renew(seen: number, page: Page): Promise<void> {
    if (this.failed) throw this.failed;
    if (seen !== this.generation) return;
    if (this.signal.aborted) throw this.signal.reason;
    this.flight ??= this.login(page).then(
      () => {
        this.generation++;
        this.flight = undefined;
      },
      (error: unknown) => {
        this.failed = new SignInFailed(error);
        this.flight = undefined;
        throw this.failed;
      },
    );
    return this.flight;
  }
}

const isSessionEnded = (error: unknown) => error instanceof RobotError && error.code === SESSION_ENDED;

/**
 * One try of an item on its page. When the portal shows its login page (sessionEnded), the
 * session is signed in again (once for every page that met it) and the item repeated; the
 * session ending again at once is a technical failure, for the item's next try.
 */
async function processSignedIn<Input>({ robot, input, context, portal }: SessionRun<Input>, item: WorkItem, page: Page): Promise<ItemOutput> {
  const itemContext: RobotContext = { ...context, page };
  const seen = portal.generation;
  try {
    return await robot.processItem(itemContext, item, input);
  } catch (error) {
    if (!robot.login || !isSessionEnded(error)) throw error;
    context.log.info('portal.session-ended', { item: item.key });
  }
  await portal.renew(seen, page);
  try {
    return await robot.processItem(itemContext, item, input);
  } catch (error) {
    if (isSessionEnded(error)) throw technicalError('PORTAL_SESSION_LOST', 'The portal ended the session again right after a new login');
    throw error;
  }
}

/** The one retry policy for items and logins (core/page-retry.ts), waits cut short when the run stops. */
function retryOptions(deps: RuntimeDeps, signal: AbortSignal, log: Logger): RetryOptions {
  const pause = deps.pause ?? ((ms, stopped) => sleep(ms, undefined, { signal: stopped }));
  return {
    policy: ITEM_RETRY,
    isRetryable: (error) => !signal.aborted && !(error instanceof SignInFailed) && isTechnicalFailure(error),
    onRetry: (error, retry, delayMs) => log.warn('retrying', { retry, delayMs, error: asRobotError(error).code }),
    sleep: (ms) => pause(ms, signal),
  };
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

type ItemOutcome = 'SUCCEEDED' | 'BUSINESS' | 'TECHNICAL' | 'SETTLED_ELSEWHERE';

/**
 * One item, checkpointed once per attempt (beginItem): the file is stored under a key derived
 * from the item (a repeat overwrites, never duplicates) before the item is marked done. A
 * technical failure is tried again within the attempt (jittered backoff, the portal's
 * Retry-After honoured), the retries traced; an item that still fails is FAILED with its error
 * and evidence, and the attempt goes on. A stopped attempt leaves the item as it was begun.
 */
async function runItem<Input>(run: SessionRun<Input>, item: WorkItem, page: Page): Promise<ItemOutcome> {
  const { deps, job, session, files, signal } = run;
  const log = deps.log.child({ item: item.key });
  const begun = await deps.items.beginItem(job.jobId, item.key, new Date().toISOString());
  // Settled meanwhile by another delivery of this job.
  if (!begun) return 'SETTLED_ELSEWHERE';
  let traced = false;
  let failure: RobotError;
  try {
    const output = await withRetries(async (tryNumber) => {
      // Only retries are traced: the trace of a try that failed and was tried again is of no use.
      if (traced) {
        traced = false;
        await session.stopItemTrace(false);
      }
      if (tryNumber > 1) traced = await session.startItemTrace(item.key).catch(() => false);
      return processSignedIn(run, item, page);
    }, retryOptions(deps, signal, log));
    if (traced) {
      traced = false;
      await session.stopItemTrace(false);
    }
    const artifact = output.file ? await files.storeItemFile(item.key, output.file) : undefined;
    await deps.items.markSucceeded(job.jobId, item.key, artifact, new Date().toISOString());
    log.info('item.succeeded', { attempt: begun.attempts });
    return 'SUCCEEDED';
  } catch (error) {
    if (error instanceof SignInFailed) throw error.failure;
    if (signal.aborted) {
      if (traced) await session.stopItemTrace(false).catch(() => undefined);
      throw error;
    }
    failure = asRobotError(error);
  }
  const evidence = await captureEvidence(session, page, traced, files, begun, log);
  const jobError: JobError = { type: failure.type, code: failure.code, message: failure.message.slice(0, 1000) };
  log.warn('item.failed', { error: jobError, attempt: begun.attempts });
  await deps.items.markFailed(job.jobId, item.key, jobError, evidence, new Date().toISOString());
  return failure.type;
}

/**
 * Screenshot and HTML of the item's page as it failed, and the trace of its last try when that
 * try was traced (a retry), each best effort; stored only once cleared of the job's secrets and
 * the session's cookies (evidence-redaction.ts), which the tenant downloads with it. When the
 * cookies cannot be read, nothing is stored.
 */
async function captureEvidence(session: JobSession, page: Page, traced: boolean, files: JobFiles, item: JobItem, log: Logger): Promise<ItemArtifact[]> {
  const folder = `evidence/attempt-${item.attempts}`;
  const captures: Array<[string, string, () => Promise<Uint8Array | undefined>]> = [
    ['screenshot.png', 'image/png', () => page.screenshot({ fullPage: true, timeout: EVIDENCE_TIMEOUT_MS })],
    ['page.html', 'text/html', async () => Buffer.from(await withTimeout(page.content(), EVIDENCE_TIMEOUT_MS))],
    ...(traced ? [['trace.zip', 'application/zip', () => session.stopItemTrace(true)] as [string, string, () => Promise<Uint8Array | undefined>]] : []),
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
