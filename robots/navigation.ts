import type { Download, Locator, Page, Response } from 'playwright-core';
import { isTechnicalStatus, isTransientNetworkError, PAGE_LOAD_RETRY, parseRetryAfter, withRetries } from '../core/page-retry';
import { businessError, RobotError, technicalError } from '../core/robot';

/**
 * Navigation for robots, with failures already sorted into business and technical errors.
 *
 * The worker's egress guard aborts refused requests with this Playwright error code; Chromium
 * then fails the navigation with net::ERR_BLOCKED_BY_CLIENT (no extension can cause it here).
 */
export const EGRESS_ABORT_CODE = 'blockedbyclient';
const EGRESS_NET_ERROR = 'net::ERR_BLOCKED_BY_CLIENT';

export interface NavigationOptions {
  timeoutMs: number;
}

/**
 * page.goto until `load`, throwing a RobotError for refusals, timeouts and HTTP error statuses.
 * A load that fails technically (5xx, 429, timeout, connection reset) is tried again
 * (withPageLoadRetries).
 */
export async function navigate(page: Page, url: string, options: NavigationOptions): Promise<Response | null> {
  return withPageLoadRetries(page, () => loadPage(page, url, options));
}

/** One try of navigate(), for steps that retry a whole sequence of loads (withPageLoadRetries). */
export async function loadPage(page: Page, url: string, { timeoutMs }: NavigationOptions): Promise<Response | null> {
  let response: Response | null;
  try {
    response = await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
  } catch (error) {
    throw navigationFailure(url, error, timeoutMs);
  }
  if (response && response.status() >= 400) throw httpStatusFailure(url, response.status(), response.headers()['retry-after']);
  return response;
}

/**
 * Runs a step of page loads (a navigation; a search and the click that downloads its file) again
 * while it fails as a load that may pass on a later try, with the page-load policy of
 * core/page-retry.ts, honouring the portal's Retry-After. Anything else (a business error, the
 * portal's login page, an unreadable result) is the caller's to handle at once.
 */
export function withPageLoadRetries<T>(page: Page, step: () => Promise<T>): Promise<T> {
  // The wait ends (rejects) when the page closes: an aborted attempt does not sit out a backoff.
  return withRetries(step, { policy: PAGE_LOAD_RETRY, isRetryable: isRetryableLoad, sleep: (ms) => page.waitForTimeout(ms) });
}

/** Timeouts, 5xx/429 answers and transient network errors; not a closed page or a refused destination. */
function isRetryableLoad(error: unknown): boolean {
  if (!(error instanceof RobotError) || error.type !== 'TECHNICAL') return false;
  if (error.code === 'NAVIGATION_FAILED') return isTransientNetworkError(error.message);
  return error.code === 'PAGE_UNAVAILABLE' || error.code === 'NAVIGATION_TIMEOUT';
}

/**
 * Clicks something that loads a new page (a form's submit button) and waits until it has loaded.
 * Returns the page's response whatever its status: a login form answering 401 is an answer.
 */
export async function clickToNavigate(page: Page, target: Locator, { timeoutMs }: NavigationOptions): Promise<Response> {
  const url = page.url();
  try {
    const response = page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().frame() === page.mainFrame(), { timeout: timeoutMs });
    await target.click({ timeout: timeoutMs });
    const loaded = await response;
    await page.waitForLoadState('load', { timeout: timeoutMs });
    return loaded;
  } catch (error) {
    throw navigationFailure(url, error, timeoutMs);
  }
}

/**
 * Clicks a link that should download a file. Either the file comes (a download), or a page loads
 * instead (a login form after the session ended): the caller looks at the page. A page that is
 * an error answer of the portal (5xx, 429) is thrown as such, with its Retry-After.
 */
export async function clickToDownload(page: Page, link: Locator, { timeoutMs }: NavigationOptions): Promise<Download | 'page'> {
  const download = page.waitForEvent('download', { timeout: timeoutMs });
  const navigated = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame(), timeout: timeoutMs });
  // The loser of the race below rejects at its timeout, with nobody left waiting for it.
  download.catch(() => undefined);
  navigated.catch(() => undefined);
  let answer: Response | undefined;
  const onResponse = (response: Response) => {
    if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) answer = response;
  };
  page.on('response', onResponse);
  let outcome: Download | 'page';
  try {
    await link.click({ timeout: timeoutMs });
    outcome = await Promise.race([download, navigated.then(() => 'page' as const)]);
    if (outcome === 'page') await page.waitForLoadState('load', { timeout: timeoutMs });
  } catch (error) {
    throw navigationFailure(page.url(), error, timeoutMs);
  } finally {
    page.off('response', onResponse);
  }
  if (outcome === 'page' && answer && answer.status() >= 400) throw httpStatusFailure(answer.url(), answer.status(), answer.headers()['retry-after']);
  return outcome;
}

function navigationFailure(url: string, error: unknown, timeoutMs: number): RobotError {
  // By name, not instanceof: a value import of playwright-core would pull it into every Lambda
  // that only needs the robots' schemas (and break them at cold start).
  if (error instanceof Error && error.name === 'TimeoutError') return technicalError('NAVIGATION_TIMEOUT', `${url} did not load within ${timeoutMs} ms`);
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes(EGRESS_NET_ERROR)) return businessError('EGRESS_BLOCKED', `${url} (or a redirect from it) is not an allowed destination`);
  return technicalError('NAVIGATION_FAILED', `${url} could not be loaded: ${firstLine(message)}`);
}

/** Client errors are the data's fault; 408, 429 and 5xx are the portal's and may pass on retry (after its Retry-After). */
export function httpStatusFailure(url: string, status: number, retryAfter?: string): RobotError {
  const message = `${url} answered HTTP ${status}`;
  if (status === 404 || status === 410) return businessError('PAGE_NOT_FOUND', message);
  if (status === 401 || status === 403) return businessError('PAGE_ACCESS_DENIED', message);
  if (isTechnicalStatus(status)) return technicalError('PAGE_UNAVAILABLE', message, parseRetryAfter(retryAfter, Date.now()));
  return businessError('PAGE_HTTP_ERROR', message);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
