import type { Locator, Page } from 'playwright-core';
import type { CredentialUse } from './credentials';
import type { z } from 'zod';
import type { ErrorType, JobError } from './job';
import type { ItemStatus } from './items';

/**
 * The robot SDK contract. A robot is one file in robots/: a name, a description, a zod input
 * schema (served as JSON Schema by GET /robots and enforced at submission), and either
 *   - `run` (a simple robot: one task per job, e.g. web-snapshot), or
 *   - `items` + optional `login` + `processItem` + optional `finish` (a robot over work items,
 *     e.g. one invoice each): the runtime checkpoints every item, skips the ones already done
 *     when a message comes back, and keeps a failed item's evidence.
 * Robots hold no AWS code: the runtime hands them everything through the context.
 */
export type RobotDefinition<Input = unknown> = SimpleRobot<Input> | ItemRobot<Input>;

interface RobotBase<Input> {
  name: string;
  version: string;
  description: string;
  input: z.ZodType<Input>;
  /**
   * The portal credentials a job will type, each with the input field naming it and the URL it is
   * typed into: checked at submit (core/credentials.ts), so a job cannot name someone else's
   * credentials or send them to a host they are not bound to.
   */
  credentialUses?(input: Input): CredentialUse[];
}

export interface SimpleRobot<Input = unknown> extends RobotBase<Input> {
  itemsField?: undefined;
  run(context: RobotContext, input: Input): Promise<RobotRunOutcome>;
}

export interface ItemRobot<Input = unknown> extends RobotBase<Input> {
  /**
   * The input field holding the list of work items (e.g. `invoices`): a spreadsheet upload fills
   * it from a column, and a retry fills it with the failed items only.
   */
  itemsField: string;
  /**
   * The site the robot signs in to. The runtime caps the sessions against its host across all
   * workers (a lease per portal), so a job may wait for a free slot before it starts.
   */
  portalUrl?(input: Input): string;
  /** The work items in input order; keys are stable (same input, same keys) and unique. */
  items(input: Input): WorkItem[];
  /**
   * Signs in: once per attempt before the first item (never when no item is left to do), unless
   * the attempt starts from a kept session (`sessionCredentials`), and again whenever an item
   * throws `sessionEnded()`. Throw a business error when the portal refuses the credentials: a
   * refused login is never tried again.
   */
  login?(context: RobotContext, input: Input): Promise<void>;
  /**
   * The credentials reference `login` signs in with: declaring it lets the runtime keep the
   * signed-in browser state (cookies, storage) per owner, portal host and credentials, encrypted
   * and for a limited time, and start later chunks, retries and jobs from it instead of signing
   * in (runtime/portal-sessions.ts). Such a robot must throw `sessionEnded()` from processItem
   * when the portal shows its login page instead of what the item asked for.
   */
  sessionCredentials?(input: Input): string;
  /**
   * How many pages of one signed-in browser context the robot can drive at once (default 1):
   * the runtime then runs that many items concurrently, each on a page of its own, bounded by
   * the stage's `pagesPerSession`. processItem must then touch only its own `context.page`.
   */
  pagesPerSession?: number;
  /**
   * One item. Throw a business error for bad data (the item fails, the job goes on) and a
   * technical one for anything a retry may fix. The returned file becomes the item's artifact.
   */
  processItem(context: RobotContext, item: WorkItem, input: Input): Promise<ItemOutput>;
  /** After the last item (every item done or business-failed): e.g. write a manifest. */
  finish?(context: FinishContext, summary: JobSummary): Promise<void>;
}

export interface WorkItem {
  /** 1-128 characters of A-Z a-z 0-9 . _ - (it names the item's folder in the artifact store). */
  key: string;
}

export interface ItemOutput {
  file?: { name: string; contentType: string; body: Uint8Array };
}

/** Every item of the job, in input order, as the checkpoints record them. */
export interface JobSummary {
  items: ItemSummary[];
  succeeded: number;
  failed: number;
}

export interface ItemSummary {
  key: string;
  status: ItemStatus;
  artifact?: { name: string; sha256: string; size: number };
  error?: JobError;
}

export const ITEM_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isItemRobot<Input>(robot: RobotDefinition<Input>): robot is ItemRobot<Input> {
  return typeof robot.itemsField === 'string';
}

export interface RobotContext {
  /** A page in a browser context of its own, behind the egress guard. */
  page: Page;
  /** Aborted when the job is cancelled or the worker must stop at once. */
  signal: AbortSignal;
  /** Masks the values of every secret the robot has read. */
  log: RobotLogger;
  /** Stores a file as an artifact of the job (S3 in the cloud, the local S3 emulation locally). */
  saveArtifact(name: string, contentType: string, body: Uint8Array): Promise<void>;
  /**
   * Portal credentials by reference (core/credentials.ts). The robot gets the username and a
   * `fill`; the other values only ever go into a page of a bound host, and are masked in logs
   * and removed from evidence from then on.
   */
  credentials(ref: string): Promise<PortalCredentials>;
  /** Items done so far (the runtime reports item progress itself). */
  progress(done: number, total: number): void;
}

export interface PortalCredentials {
  username: string;
  /**
   * Types the value of `field` ("username", "password" or one of the credential's extra fields)
   * into `target`, if at that moment the target's document comes from one of the credential's
   * hosts; a business error CREDENTIALS_HOST_MISMATCH otherwise (after a redirect to another site).
   */
  fill(target: Locator, field: string): Promise<void>;
}

/** The browser session has ended by the time `finish` runs. */
export type FinishContext = Omit<RobotContext, 'page'>;

export interface RobotLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface RobotRunOutcome {
  status: 'SUCCEEDED' | 'PARTIAL';
}

/** A failure the robot raises on purpose; `type` decides whether the workflow retries. */
export class RobotError extends Error {
  constructor(
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    /** How long the portal asked to wait before the next try (its Retry-After), when it did. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RobotError';
  }
}

/** Bad data: retrying will not help (unknown invoice, page that does not exist). */
export const businessError = (code: string, message: string) => new RobotError('BUSINESS', code, message);
/** Flaky infrastructure: retried with backoff (timeouts, crashes, 5xx from the portal). */
export const technicalError = (code: string, message: string, retryAfterMs?: number) => new RobotError('TECHNICAL', code, message, retryAfterMs);

export const SESSION_ENDED = 'PORTAL_SESSION_ENDED';
/**
 * The portal showed its login page instead of the page asked for: the runtime signs in again
 * and repeats the item. Technical, so that a robot without `login` fails the item as retryable.
 */
export const sessionEnded = (message = 'The portal showed its login page: the session has ended') => technicalError(SESSION_ENDED, message);
