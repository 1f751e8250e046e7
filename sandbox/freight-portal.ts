import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import { closeServer, listenOnLoopback } from '../local/emulators/http-server';
import { renderPdf } from './pdf';

/**
 * The sandbox freight portal: a web app with no API that behaves like the carrier portals the
 * freight-pod-download robot automates. Served by the local stack, tests and benchmarks.
 *
 * Data rule: every invoice number of 6 to 12 digits exists, except those starting with 404, which
 * are unknown; anything else (letters, other lengths) is unknown too. Invoices starting with 503
 * exist, but their search always answers 503 (a record the portal's back end cannot serve: a
 * technical failure however often it is retried). Customer, delivery date and
 * receiver are derived from the number, so the same invoice always gives the same page and the
 * same PDF bytes (same sha256).
 *
 * Pages (HTML, sessions by the HttpOnly cookie `portal_session`):
 *   GET  /login            form#login (username, password, hidden next)
 *   POST /login            302 to /search or the relative `next`, setting the cookie; 401 with p.error otherwise
 *   GET  /search           form#search (invoice); with ?invoice=N: table#result + a#pod-download, or p#not-found (200)
 *   GET  /pod/N.pdf        the proof of delivery as a PDF attachment (POD-N.pdf); 404 for an unknown invoice
 * Without a valid session, /search and /pod/* redirect (302) to /login?next=<path>. A session ends
 * after `sessionTtlMs`, or after `sessionMaxRequests` authenticated requests.
 *
 * Test and benchmark hooks, not linked from any page, never subject to faults, and refused (401)
 * without the header `x-portal-admin: <adminToken>`:
 *   GET  /__admin/stats    { logins, rejectedLogins, searches, downloads: { "<invoice>": count }, totalDownloads }
 *   POST /__admin/reset    zeroes the stats and ends every session; answers the zeroed stats
 *   POST /__admin/expire-sessions  ends every session (as a portal's session timeout would); answers { expired }
 *   POST /__admin/faults   JSON PortalFaults replacing the current ones; answers { faults }
 */

export const PORTAL_SESSION_COOKIE = 'portal_session';
export const PORTAL_ADMIN_HEADER = 'x-portal-admin';

export const portalFaultsSchema = z.strictObject({
  /** Added to every page, download and redirect. */
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  /** Fraction (0..1) of requests answered 503, at random. */
  errorRate: z.number().min(0).max(1).optional(),
  /** Deterministic alternative: every Nth request (counted from the last setFaults or reset) is answered 503. */
  errorEvery: z.number().int().min(1).optional(),
  /** Extra delay before a POD download's response. */
  slowDownloadMs: z.number().int().min(0).max(300_000).optional(),
});
export type PortalFaults = z.infer<typeof portalFaultsSchema>;

export interface FreightPortalOptions {
  username: string;
  password: string;
  /** Required in the x-portal-admin header by /__admin/*; random (HTTP hooks unusable) when absent. */
  adminToken?: string;
  /** 0 or absent: any free port. */
  port?: number;
  /** Session lifetime from login; 10 minutes by default. */
  sessionTtlMs?: number;
  /** Authenticated requests one session serves; unlimited by default. */
  sessionMaxRequests?: number;
  faults?: PortalFaults;
}

export interface PortalStats {
  /** Successful logins. */
  logins: number;
  /** Logins refused for wrong credentials. */
  rejectedLogins: number;
  /** Searches for an invoice number, found or not. */
  searches: number;
  /** POD PDFs served, per invoice number. */
  downloads: Record<string, number>;
  totalDownloads: number;
}

export interface FreightPortal {
  url: string;
  close(): Promise<void>;
  stats(): PortalStats;
  setFaults(faults: PortalFaults): void;
  reset(): void;
  /** Ends every session; answers how many there were. */
  expireSessions(): number;
}

export interface InvoiceRecord {
  invoice: string;
  customer: string;
  /** YYYY-MM-DD */
  deliveredOn: string;
  receivedBy: string;
}

const CUSTOMERS = ['Acme Industrial Ltda', 'Blue Harbor Foods', 'Cordoba Textiles', 'Delta Pharma SA', 'Evergreen Retail', 'Fjord Marine Supply'];
const RECEIVERS = ['A. Souza', 'B. Lindqvist', 'C. Okafor', 'D. Moreau', 'E. Tanaka', 'F. Ribeiro'];
const FIRST_DELIVERY_DAY = Date.UTC(2025, 0, 1);
const DAY_MS = 86_400_000;

/** Invoices whose search always fails technically (see the file header). */
const UNSERVABLE_INVOICE = /^503\d{3,9}$/;

/** The portal's data rule (see the file header); undefined for an unknown invoice. */
export function findInvoice(invoice: string): InvoiceRecord | undefined {
  if (!/^\d{6,12}$/.test(invoice) || invoice.startsWith('404')) return undefined;
  const digest = createHash('sha256').update(invoice).digest();
  return {
    invoice,
    customer: CUSTOMERS[digest[0]! % CUSTOMERS.length]!,
    deliveredOn: new Date(FIRST_DELIVERY_DAY + (digest.readUInt16BE(1) % 730) * DAY_MS).toISOString().slice(0, 10),
    receivedBy: RECEIVERS[digest[3]! % RECEIVERS.length]!,
  };
}

/** The POD the portal serves for an invoice: deterministic bytes naming the invoice. */
export function proofOfDeliveryPdf(record: InvoiceRecord): Buffer {
  return renderPdf({
    title: `Proof of delivery ${record.invoice}`,
    lines: [
      { text: 'Proof of delivery', size: 20 },
      { text: `Invoice ${record.invoice}`, size: 14 },
      { text: `Customer: ${record.customer}` },
      { text: `Delivered on: ${record.deliveredOn}` },
      { text: `Received by: ${record.receivedBy}` },
      { text: 'Issued by the Roboport sandbox freight portal. Not a real document.', size: 8 },
    ],
  });
}

interface Session {
  expiresAt: number;
  requests: number;
}

const MAX_FORM_BYTES = 16 * 1024;

export async function startFreightPortal(options: FreightPortalOptions): Promise<FreightPortal> {
  const sessionTtlMs = options.sessionTtlMs ?? 10 * 60_000;
  const sessionMaxRequests = options.sessionMaxRequests ?? Number.POSITIVE_INFINITY;
  const adminToken = options.adminToken ?? randomBytes(24).toString('base64url');
  const sessions = new Map<string, Session>();
  let faults = portalFaultsSchema.parse(options.faults ?? {});
  let requestCount = 0;
  let stats = emptyStats();
  // Aborts pending latency timers, so close() does not wait for them.
  const closing = new AbortController();

  function emptyStats() {
    return { logins: 0, rejectedLogins: 0, searches: 0, downloads: new Map<string, number>() };
  }

  function sessionOf(request: IncomingMessage): Session | undefined {
    const id = cookieValue(request, PORTAL_SESSION_COOKIE);
    const session = id === undefined ? undefined : sessions.get(id);
    if (!id || !session) return undefined;
    if (Date.now() >= session.expiresAt || session.requests >= sessionMaxRequests) {
      sessions.delete(id);
      return undefined;
    }
    session.requests++;
    return session;
  }

  function startSession(): string {
    const now = Date.now();
    for (const [id, session] of sessions) if (now >= session.expiresAt) sessions.delete(id);
    const id = randomBytes(24).toString('base64url');
    sessions.set(id, { expiresAt: now + sessionTtlMs, requests: 0 });
    return id;
  }

  function injectedError(): boolean {
    requestCount++;
    return (faults.errorEvery !== undefined && requestCount % faults.errorEvery === 0) || Math.random() < (faults.errorRate ?? 0);
  }

  async function handlePage(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const failed = injectedError();
    if (faults.latencyMs) await sleep(faults.latencyMs, undefined, { signal: closing.signal });
    if (failed) {
      send(response, 503, { ...HTML, 'retry-after': '1' }, page('Service unavailable', '<p>The portal is busy. Try again in a moment.</p>'));
      return;
    }
    const route = `${request.method} ${url.pathname}`;
    if (route === 'GET /') return redirect(response, '/search');
    if (route === 'GET /login') {
      send(response, 200, HTML, loginPage(safeNext(url.searchParams.get('next'))));
      return;
    }
    if (route === 'POST /login') return login(request, response);
    if (route === 'GET /search' || (request.method === 'GET' && url.pathname.startsWith('/pod/'))) {
      if (!sessionOf(request)) return redirect(response, `/login?next=${encodeURIComponent(url.pathname + url.search)}`);
      return url.pathname === '/search' ? search(response, url) : download(response, url.pathname);
    }
    send(response, 404, HTML, page('Not found', '<p>There is no such page.</p>'));
  }

  async function login(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(request, MAX_FORM_BYTES));
    const next = safeNext(form.get('next'));
    if (!sameSecret(form.get('username') ?? '', options.username) || !sameSecret(form.get('password') ?? '', options.password)) {
      stats.rejectedLogins++;
      send(response, 401, HTML, loginPage(next, '<p class="error">Invalid credentials</p>'));
      return;
    }
    stats.logins++;
    response.setHeader('set-cookie', `${PORTAL_SESSION_COOKIE}=${startSession()}; HttpOnly; Path=/; SameSite=Lax`);
    redirect(response, next);
  }

  function search(response: ServerResponse, url: URL): void {
    const query = url.searchParams.get('invoice')?.trim();
    if (!query) {
      send(response, 200, HTML, searchPage(''));
      return;
    }
    stats.searches++;
    if (UNSERVABLE_INVOICE.test(query)) {
      send(response, 503, { ...HTML, 'retry-after': '1' }, page('Service unavailable', '<p>This record cannot be shown right now.</p>'));
      return;
    }
    const record = findInvoice(query);
    send(response, 200, HTML, searchPage(query, record ? resultHtml(record) : `<p id="not-found">Invoice ${escapeHtml(query)} not found</p>`));
  }

  async function download(response: ServerResponse, pathname: string): Promise<void> {
    const record = findInvoice(/^\/pod\/([^/]+)\.pdf$/.exec(pathname)?.[1] ?? '');
    if (!record) {
      send(response, 404, HTML, page('Not found', '<p>No proof of delivery for this invoice.</p>'));
      return;
    }
    if (faults.slowDownloadMs) await sleep(faults.slowDownloadMs, undefined, { signal: closing.signal });
    stats.downloads.set(record.invoice, (stats.downloads.get(record.invoice) ?? 0) + 1);
    send(
      response,
      200,
      { 'content-type': 'application/pdf', 'content-disposition': `attachment; filename="POD-${record.invoice}.pdf"`, 'cache-control': 'no-store' },
      proofOfDeliveryPdf(record),
    );
  }

  function currentStats(): PortalStats {
    const downloads = Object.fromEntries(stats.downloads);
    return { logins: stats.logins, rejectedLogins: stats.rejectedLogins, searches: stats.searches, downloads, totalDownloads: Object.values(downloads).reduce((sum, count) => sum + count, 0) };
  }

  function setFaults(next: PortalFaults): void {
    faults = portalFaultsSchema.parse(next);
    requestCount = 0;
  }

  function reset(): void {
    stats = emptyStats();
    sessions.clear();
    requestCount = 0;
  }

  function expireSessions(): number {
    const expired = sessions.size;
    sessions.clear();
    return expired;
  }

  async function handleAdmin(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    if (!sameSecret(String(request.headers[PORTAL_ADMIN_HEADER] ?? ''), adminToken)) {
      sendJson(response, 401, { message: `${PORTAL_ADMIN_HEADER} header missing or wrong` });
      return;
    }
    const route = `${request.method} ${url.pathname}`;
    if (route === 'GET /__admin/stats') return sendJson(response, 200, currentStats());
    if (route === 'POST /__admin/reset') {
      reset();
      return sendJson(response, 200, currentStats());
    }
    if (route === 'POST /__admin/expire-sessions') return sendJson(response, 200, { expired: expireSessions() });
    if (route === 'POST /__admin/faults') {
      const parsed = portalFaultsSchema.safeParse(parseJson(await readBody(request, MAX_FORM_BYTES)));
      if (!parsed.success) return sendJson(response, 400, { message: 'invalid faults', issues: parsed.error.issues });
      setFaults(parsed.data);
      return sendJson(response, 200, { faults });
    }
    sendJson(response, 404, { message: `no admin route ${route}` });
  }

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://portal');
    const handled = url.pathname.startsWith('/__admin/') ? handleAdmin(request, response, url) : handlePage(request, response, url);
    handled.catch((error: unknown) => {
      if (error instanceof PayloadTooLarge) send(response, 413, HTML, page('Too large', '<p>The request body is too large.</p>'));
      else if (closing.signal.aborted || response.headersSent) response.destroy();
      else send(response, 500, HTML, page('Error', '<p>Something went wrong.</p>'));
    });
  });
  const url = await listenOnLoopback(server, options.port);
  return {
    url,
    close: async () => {
      closing.abort();
      await closeServer(server);
    },
    stats: currentStats,
    setFaults,
    reset,
    expireSessions,
  };
}

const HTML = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };

function send(response: ServerResponse, statusCode: number, headers: Record<string, string>, body: string | Buffer): void {
  response.writeHead(statusCode, { ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(body);
}

function sendJson(response: ServerResponse, statusCode: number, body: object): void {
  send(response, statusCode, { 'content-type': 'application/json' }, JSON.stringify(body));
}

function redirect(response: ServerResponse, location: string): void {
  response.writeHead(302, { location, 'content-length': '0' }).end();
}

/** Only a same-site path may be a post-login target (no open redirect): "/x", not "//host" or "/\host". */
function safeNext(next: string | null): string {
  return next && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/search';
}

/** Compares digests so that neither the content nor the length of a secret leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function cookieValue(request: IncomingMessage, name: string): string | undefined {
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = pair.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

class PayloadTooLarge extends Error {}

async function readBody(request: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new PayloadTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} - Sandbox Freight</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em}.error{color:#b00}</style>
</head><body><header><strong>Sandbox Freight</strong> carrier portal</header><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function loginPage(next: string, message = ''): string {
  return page(
    'Sign in',
    `${message}<form id="login" method="post" action="/login">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="${escapeHtml(next)}">
<button type="submit">Sign in</button>
</form>`,
  );
}

function searchPage(query: string, result = ''): string {
  return page(
    'Invoice search',
    `<form id="search" method="get" action="/search">
<label>Invoice number <input name="invoice" value="${escapeHtml(query)}" required></label>
<button type="submit">Search</button>
</form>${result}`,
  );
}

function resultHtml(record: InvoiceRecord): string {
  return `<table id="result"><thead><tr><th>Invoice</th><th>Customer</th><th>Delivered</th></tr></thead>
<tbody><tr><td class="invoice">${record.invoice}</td><td class="customer">${escapeHtml(record.customer)}</td><td class="delivered">${record.deliveredOn}</td></tr></tbody></table>
<p><a id="pod-download" href="/pod/${record.invoice}.pdf">Download POD</a></p>`;
}
