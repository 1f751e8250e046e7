import type { Download, Locator, Page, Response } from 'playwright-core';
import { businessError, technicalError, type RobotError } from '../core/robot';

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

/** page.goto until `load`, throwing a RobotError for refusals, timeouts and HTTP error statuses. */
export async function navigate(page: Page, url: string, { timeoutMs }: NavigationOptions): Promise<Response | null> {
  let response: Response | null;
  try {
    response = await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
  } catch (error) {
    throw navigationFailure(url, error, timeoutMs);
  }
  if (response && response.status() >= 400) throw httpStatusFailure(url, response.status());
  return response;
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
 * instead (an error page, a login form after the session ended): the caller looks at the page.
 */
export async function clickToDownload(page: Page, link: Locator, { timeoutMs }: NavigationOptions): Promise<Download | 'page'> {
  const download = page.waitForEvent('download', { timeout: timeoutMs });
  const navigated = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame(), timeout: timeoutMs });
  // The loser of the race below rejects at its timeout, with nobody left waiting for it.
  download.catch(() => undefined);
  navigated.catch(() => undefined);
  try {
    await link.click({ timeout: timeoutMs });
    const outcome = await Promise.race([download, navigated.then(() => 'page' as const)]);
    if (outcome === 'page') await page.waitForLoadState('load', { timeout: timeoutMs });
    return outcome;
  } catch (error) {
    throw navigationFailure(page.url(), error, timeoutMs);
  }
}

function navigationFailure(url: string, error: unknown, timeoutMs: number): RobotError {
  // By name, not instanceof: a value import of playwright-core would pull it into every Lambda
  // that only needs the robots' schemas (and break them at cold start).
  if (error instanceof Error && error.name === 'TimeoutError') return technicalError('NAVIGATION_TIMEOUT', `${url} did not load within ${timeoutMs} ms`);
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes(EGRESS_NET_ERROR)) return businessError('EGRESS_BLOCKED', `${url} (or a redirect from it) is not an allowed destination`);
  return technicalError('NAVIGATION_FAILED', `${url} could not be loaded: ${firstLine(message)}`);
}

/** Client errors are the data's fault; 429 and 5xx are the portal's and may pass on retry. */
export function httpStatusFailure(url: string, status: number): RobotError {
  const message = `${url} answered HTTP ${status}`;
  if (status === 404 || status === 410) return businessError('PAGE_NOT_FOUND', message);
  if (status === 401 || status === 403) return businessError('PAGE_ACCESS_DENIED', message);
  if (status === 429 || status >= 500) return technicalError('PAGE_UNAVAILABLE', message);
  return businessError('PAGE_HTTP_ERROR', message);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
