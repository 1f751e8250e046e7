import { RobotError } from './robot';

/**
 * How the robot runtime treats a flaky portal, in one place:
 *   - which failures are technical (worth another try): 408, 429 and 5xx answers, timeouts,
 *     network errors, a robot's technical errors; never a business error (bad data, refused login);
 *   - how long to wait before the next try: capped exponential backoff with full jitter, and at
 *     least what the portal asked for in Retry-After (seconds or an HTTP date), itself capped;
 *   - when the portal is down rather than flaky (PortalHealth): the attempt then fails
 *     technically and the workflow retries it later, instead of failing every remaining item.
 */
export interface RetryPolicy {
  /** Tries in all, the first one included. */
  maxTries: number;
  /** The wait before retry n (1-based) is random in [0, min(maxDelayMs, baseDelayMs × 2^(n-1))]. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A longer Retry-After is cut to this: a portal asking for an hour does not stall the attempt. */
  maxRetryAfterMs: number;
}

/** One page load (navigation) of a robot. */
export const PAGE_LOAD_RETRY: RetryPolicy = { maxTries: 4, baseDelayMs: 250, maxDelayMs: 4_000, maxRetryAfterMs: 15_000 };
/** One item (a robot's processItem, its own page loads already retried) and one login. */
export const ITEM_RETRY: RetryPolicy = { maxTries: 4, baseDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterMs: 30_000 };

/** Items in a row that failed technically after all their tries: past this the portal counts as down. */
export const PORTAL_DOWN_AFTER_FAILURES = 5;

/** Chromium's network errors that a later try may not meet (resets, refusals, timeouts, DNS hiccups). */
const TRANSIENT_NET_ERRORS =
  /net::ERR_(CONNECTION_(RESET|REFUSED|CLOSED|ABORTED|FAILED|TIMED_OUT)|EMPTY_RESPONSE|TIMED_OUT|NETWORK_CHANGED|NAME_NOT_RESOLVED|ADDRESS_UNREACHABLE|INTERNET_DISCONNECTED|HTTP2_PROTOCOL_ERROR|FAILED)\b/;

/** An HTTP status that is the portal's trouble, not the request's: retried. */
export function isTechnicalStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A page load's error message (Playwright's, with Chromium's net::ERR_*) that a retry may fix. */
export function isTransientNetworkError(message: string): boolean {
  return TRANSIENT_NET_ERRORS.test(message);
}

/** Robot errors carry their type; anything else a robot throws is a crash, retried like a technical error. */
export function isTechnicalFailure(error: unknown): boolean {
  return !(error instanceof RobotError) || error.type === 'TECHNICAL';
}

/**
 * A Retry-After header as milliseconds from `nowMs`: delta-seconds ("120") or an HTTP date
 * ("Wed, 21 Oct 2026 07:28:00 GMT"; a past date is 0). undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse also reads bare numbers and other forms; an HTTP date names its weekday or month.
  if (!/[A-Za-z]/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The wait before retry `retry` (1 = the first retry): jittered backoff, but never less than the capped Retry-After. */
export function retryDelayMs(policy: RetryPolicy, retry: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const backoff = random() * ceiling;
  const asked = retryAfterMs === undefined ? 0 : Math.min(Math.max(0, retryAfterMs), policy.maxRetryAfterMs);
  return Math.round(Math.max(backoff, asked));
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Whether a failure may pass on another try; default: isTechnicalFailure. */
  isRetryable?(error: unknown): boolean;
  /** Told before each wait (for logs). */
  onRetry?(error: unknown, retry: number, delayMs: number): void;
  /** Waits; rejects to give up (the attempt was aborted, the page closed). */
  sleep(ms: number): Promise<void>;
  random?(): number;
}

/** Runs `work` until it succeeds, fails for good, or has had `policy.maxTries` tries; the last failure is thrown. */
export async function withRetries<T>(work: (tryNumber: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const isRetryable = options.isRetryable ?? isTechnicalFailure;
  for (let tryNumber = 1; ; tryNumber++) {
    try {
      return await work(tryNumber);
    } catch (error) {
      if (tryNumber >= options.policy.maxTries || !isRetryable(error)) throw error;
      const delayMs = retryDelayMs(options.policy, tryNumber, error instanceof RobotError ? error.retryAfterMs : undefined, options.random);
      options.onRetry?.(error, tryNumber, delayMs);
      await options.sleep(delayMs);
    }
  }
}

/**
 * Item outcomes of one attempt, to tell a flaky portal from a down one. Down: `maxFailuresInRow`
 * items in a row failed technically, or the attempt ends with technical failures and not one
 * success. A business failure proves the portal answers, like a success, but is no success.
 */
export class PortalHealth {
  private inRow = 0;
  private succeeded = 0;
  private technical = 0;

  constructor(private readonly maxFailuresInRow = PORTAL_DOWN_AFTER_FAILURES) {}

  success(): void {
    this.succeeded++;
    this.inRow = 0;
  }

  businessFailure(): void {
    this.inRow = 0;
  }

  /** true when this failure means the portal is down. */
  technicalFailure(): boolean {
    this.technical++;
    this.inRow++;
    return this.inRow >= this.maxFailuresInRow;
  }

  /** At the end of the attempt's items: nothing succeeded and something failed technically. */
  downAtEnd(): boolean {
    return this.succeeded === 0 && this.technical > 0;
  }

  /** For the error that fails the attempt. */
  describe(): string {
    return this.inRow >= this.maxFailuresInRow
      ? `${this.inRow} items in a row failed technically`
      : `no item succeeded and ${this.technical} failed technically`;
  }
}
