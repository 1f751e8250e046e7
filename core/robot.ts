import type { Page } from 'playwright-core';
import type { z } from 'zod';
import type { ErrorType } from './job';

/**
 * The robot SDK contract. A robot is one file in robots/: a name, a description, a zod input
 * schema (served as JSON Schema by GET /robots and enforced at submission), and `run`.
 * Robots hold no AWS code: the runtime hands them everything through the context.
 */
export interface RobotDefinition<Input = unknown> {
  name: string;
  version: string;
  description: string;
  input: z.ZodType<Input>;
  /**
   * The input field holding the list of work items (e.g. `invoices`): a spreadsheet upload fills
   * it from a column, and a retry fills it with the failed items only. Absent: no items.
   */
  itemsField?: string;
  run(context: RobotContext, input: Input): Promise<RobotRunOutcome>;
}

export interface RobotContext {
  /** A page in a browser context of its own, behind the egress guard. */
  page: Page;
  /** Aborted when the job is cancelled or the worker is stopping. */
  signal: AbortSignal;
  log: RobotLogger;
  /** Stores a file as an artifact of the job (S3 in the cloud, the local S3 emulation locally). */
  saveArtifact(name: string, contentType: string, body: Uint8Array): Promise<void>;
}

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
  ) {
    super(message);
    this.name = 'RobotError';
  }
}

/** Bad data: retrying will not help (unknown invoice, page that does not exist). */
export const businessError = (code: string, message: string) => new RobotError('BUSINESS', code, message);
/** Flaky infrastructure: retried with backoff (timeouts, crashes, 5xx from the portal). */
export const technicalError = (code: string, message: string) => new RobotError('TECHNICAL', code, message);
