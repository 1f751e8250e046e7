import { isIP } from 'node:net';
import type { APIResponse, BrowserContext, Route } from 'playwright-core';
import { checkEgress, staticEgressViolation, type EgressLookup } from '../core/egress-guard';
import { EGRESS_ABORT_CODE } from '../robots/navigation';
import { processPins, type NameResolver, type PinnedNames } from './pinned-names';

export interface EgressPolicy {
  allowHosts: readonly string[];
  /** How a name is resolved before it is checked and pinned; the system resolver unless a test injects one. */
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
 * Each hop's host is pinned to the addresses its check approved while it is fetched
 * (pinned-names.ts), so a DNS answer that changes after the check is never connected to.
 * Chromium itself never reaches the network: see FAIL_CLOSED_PROXY_ARGS in browser.ts.
 */
export async function guardContextEgress(context: BrowserContext, policy: EgressPolicy): Promise<void> {
  const { pins, systemLookup } = processPins();
  const { lookup } = policy;
  const guard: Guard = { policy, pins, resolve: lookup ? (hostname) => lookup(hostname, { all: true }) : systemLookup };
  await context.route('**/*', async (route) => {
    try {
      await forwardIfAllowed(route, guard);
    } catch (error) {
      await route.abort(abortCodeFor(error)).catch(ignoreClosedContext);
    }
  });
}

interface Guard {
  policy: EgressPolicy;
  pins: PinnedNames;
  /** How a name without a current pin is resolved. */
  resolve: NameResolver;
}

async function forwardIfAllowed(route: Route, guard: Guard): Promise<void> {
  const request = route.request();
  let target = request.url();
  let hop: FetchOptions = {};
  for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
    const response = await fetchIfAllowed(route, target, hop, guard);
    if (!response) return;
    const location = redirectTarget(response, target);
    if (!location) {
      if (request.isNavigationRequest() && originOf(target) !== originOf(request.url())) recordServedHost(request.frame().page().context(), request.url(), target);
      return route.fulfill({ response });
    }
    hop = redirectedRequest(request.headers(), hop.method ?? request.method(), response.status(), originOf(target) !== originOf(location));
    target = location;
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects`);
}

/**
 * One hop: the static checks first (nothing is resolved for a URL refused anyway), then the host
 * is held pinned, its pinned addresses are checked, and the hop is fetched before the hold ends.
 * undefined when refused (the route is aborted). A host that does not resolve rejects: not a
 * refusal, it may be down or mistyped.
 */
async function fetchIfAllowed(route: Route, url: string, hop: FetchOptions, { policy, pins, resolve }: Guard): Promise<APIResponse | undefined> {
  const violation = staticEgressViolation(url, policy.allowHosts);
  if (violation) return refuse(route, url, violation, policy);
  const hostname = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  const hold = isIP(hostname) ? undefined : await pins.hold(hostname, resolve);
  try {
    const refusal = await checkEgress(url, policy.allowHosts, async () => hold?.addresses ?? []);
    if (refusal) return refuse(route, url, refusal, policy);
    return await route.fetch({ ...hop, url, maxRedirects: 0, timeout: FETCH_TIMEOUT_MS });
  } finally {
    hold?.release();
  }
}

/**
 * The next hop of a redirect, as a browser would send it. Without a Cookie header the context's
 * cookie jar supplies the cookies for the new URL, including any the redirect just set (a login
 * answering 302 + Set-Cookie); the page's original Cookie and Authorization must not follow a
 * redirect to another origin either. 307/308 repeat the request; every other redirect becomes a
 * GET without a body.
 */
function redirectedRequest(headers: Record<string, string>, method: string, status: number, crossOrigin: boolean): FetchOptions {
  const repeat = repeatsRequest(status);
  const dropped = new Set(['cookie', ...(crossOrigin ? ['authorization'] : []), ...(repeat ? [] : ['content-type', 'content-length'])]);
  const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !dropped.has(name.toLowerCase())));
  return repeat ? { method, headers: kept } : { method: 'GET', headers: kept, postData: '' };
}

function repeatsRequest(status: number): boolean {
  return status === 307 || status === 308;
}

/**
 * Documents served from another host than their URL names: the guard follows redirects itself
 * (see above), so after a cross-origin redirect the page's location still shows the first host.
 * Whatever asks "which site is this document from?" (the credentials fill) asks here first.
 */
const servedHosts = new WeakMap<BrowserContext, Map<string, string>>();

function recordServedHost(context: BrowserContext, documentUrl: string, servedUrl: string): void {
  let hosts = servedHosts.get(context);
  if (!hosts) servedHosts.set(context, (hosts = new Map()));
  hosts.set(documentUrl, new URL(servedUrl).host);
}

/** Document URL → the host that really served it, for the documents of `context` that came through a cross-origin redirect. */
export function servedHostsOf(context: BrowserContext): Record<string, string> {
  return Object.fromEntries(servedHosts.get(context) ?? []);
}

async function refuse(route: Route, url: string, reason: string, policy: EgressPolicy): Promise<undefined> {
  policy.onRefused(url, reason);
  await route.abort(EGRESS_ABORT_CODE);
  return undefined;
}

/** "null" for opaque origins and other schemes. */
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
