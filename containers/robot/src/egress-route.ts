import type { APIResponse, BrowserContext, Route } from 'playwright-core';
import { checkEgress, type EgressLookup } from '../../../core/egress-guard';
import { EGRESS_ABORT_CODE } from '../../../robots/navigation';

export interface EgressPolicy {
  allowHosts: readonly string[];
  /** DNS lookup used for the checks; the system resolver unless a test injects one. */
  lookup?: EgressLookup;
  onRefused(url: string, reason: string): void;
}

type FetchOptions = NonNullable<Parameters<Route['fetch']>[0]>;

const FETCH_TIMEOUT_MS = 30_000;
/** Chromium's own limit. */
const MAX_REDIRECTS = 20;

/**
 * Every request of the context goes through the guard: it is checked, then fetched by
 * Playwright from this process. Redirects are followed here, hop by hop, each target checked
 * before it is fetched: when a route is fulfilled with a 3xx, Chromium follows it itself,
 * without routing the next request (verified), so a redirect chain would escape the guard.
 * Chromium itself never reaches the network: see FAIL_CLOSED_PROXY_ARGS in browser.ts.
 */
export async function guardContextEgress(context: BrowserContext, policy: EgressPolicy): Promise<void> {
  const refusalFor = cachedRefusals(policy);
  await context.route('**/*', async (route) => {
    try {
      await forwardIfAllowed(route, refusalFor, policy);
    } catch (error) {
      await route.abort(abortCodeFor(error)).catch(ignoreClosedContext);
    }
  });
}

async function forwardIfAllowed(route: Route, refusalFor: (url: string) => Promise<string | undefined>, policy: EgressPolicy): Promise<void> {
  const request = route.request();
  let target = request.url();
  let hop: FetchOptions = {};
  for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
    if (await refuseIfNotAllowed(route, target, refusalFor, policy)) return;
    const response = await route.fetch({ ...hop, url: target, maxRedirects: 0, timeout: FETCH_TIMEOUT_MS });
    const location = redirectTarget(response, target);
    if (!location) return route.fulfill({ response });
    hop = redirectedRequest(request.headers(), hop.method ?? request.method(), response.status(), originOf(target) !== originOf(location));
    target = location;
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects`);
}

/**
 * The next hop of a redirect, as a browser would send it. Without a Cookie header the context's
 * cookie jar supplies the cookies for the new URL, including any the redirect just set (a login
 * answering 302 + Set-Cookie); the page's original Cookie and Authorization must not follow a
 * redirect to another origin either. 307/308 repeat the request; every other redirect becomes a
 * GET without a body.
 */
function redirectedRequest(headers: Record<string, string>, method: string, status: number, crossOrigin: boolean): FetchOptions {
  const repeat = status === 307 || status === 308;
  const dropped = new Set(['cookie', ...(crossOrigin ? ['authorization'] : []), ...(repeat ? [] : ['content-type', 'content-length'])]);
  const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !dropped.has(name.toLowerCase())));
  return repeat ? { method, headers: kept } : { method: 'GET', headers: kept, postData: '' };
}

async function refuseIfNotAllowed(
  route: Route,
  url: string,
  refusalFor: (url: string) => Promise<string | undefined>,
  policy: EgressPolicy,
): Promise<boolean> {
  const refusal = await refusalFor(url);
  if (!refusal) return false;
  policy.onRefused(url, refusal);
  await route.abort(EGRESS_ABORT_CODE);
  return true;
}

/** One DNS check per origin for the job; failed lookups are not cached (they may be transient). */
function cachedRefusals(policy: EgressPolicy): (url: string) => Promise<string | undefined> {
  const byOrigin = new Map<string, Promise<string | undefined>>();
  return (url) => {
    const origin = originOf(url);
    let refusal = byOrigin.get(origin);
    if (!refusal) {
      refusal = checkEgress(`${origin}/`, policy.allowHosts, policy.lookup);
      refusal.catch(() => byOrigin.delete(origin));
      byOrigin.set(origin, refusal);
    }
    return refusal;
  };
}

/** The origin decides the verdict; "null" (opaque origins, other schemes) is refused as invalid. */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}

function redirectTarget(response: APIResponse, requestUrl: string): string | undefined {
  const location = response.headers()['location'];
  if (response.status() < 300 || response.status() >= 400 || !location) return undefined;
  return new URL(location, requestUrl).href;
}

/** Lets the page see a network error close to what Chromium would have reported. */
function abortCodeFor(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return 'namenotresolved';
  if (/ECONNREFUSED/.test(message)) return 'connectionrefused';
  if (/timeout|ETIMEDOUT/i.test(message)) return 'timedout';
  return 'failed';
}

function ignoreClosedContext(): void {
  // The job ended and its context closed while this request was in flight: nothing to answer.
}
