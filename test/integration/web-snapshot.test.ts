import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EgressLookup } from '../../core/egress-guard';
import { RobotError, type RobotContext } from '../../core/robot';
import { WorkerBrowser, type JobSession } from '../../runtime/browser';
import { navigate } from '../../robots/navigation';

/**
 * Real Chromium (@sparticuz/chromium, or CHROMIUM_PATH) against a loopback server. The server is
 * allowlisted by host:port; every other destination is refused by the egress guard before any
 * connection is made, so nothing here ever leaves loopback.
 */
const PAGE = '<!doctype html><html><head><title>Invoice</title></head><body><h1>Invoice 42</h1><p>Total: 12.00 EUR</p></body></html>';

let server: Server;
let origin: string;
const upgradeRequests: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    switch (request.url) {
      case '/':
        return void response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      case '/to-metadata':
        return void response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      case '/to-self':
        return void response.writeHead(301, { location: '/' }).end();
      case '/private-image':
        return void response.writeHead(200, { 'content-type': 'text/html' }).end('<img src="http://10.0.0.1/x.png">');
      case '/slow':
        return; // never answers
      default:
        return void response.writeHead(404).end('not here');
    }
  });
  server.on('upgrade', (request, socket) => {
    upgradeRequests.push(request.url ?? '');
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.EGRESS_ALLOW_HOSTS = new URL(origin).host;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('web-snapshot in real Chromium behind the egress guard', () => {
  const browser = new WorkerBrowser({ executablePath: process.env.CHROMIUM_PATH, closeTimeoutMs: 5_000 });
  const refusals: { url: string; reason: string }[] = [];
  const fakeIntranetDns: EgressLookup = async (hostname) => (hostname === 'intranet.test' ? [{ address: '10.0.0.7', family: 4 }] : []);
  let session: JobSession;

  const openSession = async () => {
    session = await browser.open({ allowHosts: [new URL(origin).host], lookup: fakeIntranetDns, onRefused: (url, reason) => refusals.push({ url, reason }) });
    return session;
  };
  const contextFor = (artifacts: Map<string, Uint8Array>): RobotContext => ({
    page: session.page,
    signal: new AbortController().signal,
    log: { info: () => {}, warn: () => {}, error: () => {} },
    saveArtifact: async (name, _contentType, body) => void artifacts.set(name, body),
    credentials: async () => Promise.reject(new Error('web-snapshot uses no credentials')),
    progress: () => {},
  });
  const robotError = (work: Promise<unknown>) =>
    work.then(
      () => undefined,
      (error: unknown) => (error instanceof RobotError ? { type: error.type, code: error.code } : error),
    );

  afterAll(async () => {
    await session?.close();
    await browser.close();
  });

  it('saves the page as PDF and PNG', async () => {
    const { webSnapshot } = await import('../../robots/web-snapshot');
    const started = performance.now();
    await openSession();
    const opened = performance.now();
    const artifacts = new Map<string, Uint8Array>();
    const input = webSnapshot.input.parse({ url: `${origin}/`, formats: ['pdf', 'png'] });

    await expect(webSnapshot.run(contextFor(artifacts), input)).resolves.toEqual({ status: 'SUCCEEDED' });
    const done = performance.now();
    await session.close();
    console.info(`launch+context ${Math.round(opened - started)} ms, goto+pdf+png ${Math.round(done - opened)} ms, context close ${Math.round(performance.now() - done)} ms`);

    expect(Buffer.from(artifacts.get('snapshot.pdf') ?? []).subarray(0, 4).toString('latin1')).toBe('%PDF');
    expect(Buffer.from(artifacts.get('snapshot.png') ?? []).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });

  it('refuses a redirect to the metadata address before anything connects to it', async () => {
    await openSession();
    await expect(robotError(navigate(session.page, `${origin}/to-metadata`, { timeoutMs: 10_000 }))).resolves.toEqual({ type: 'BUSINESS', code: 'EGRESS_BLOCKED' });
    expect(refusals).toContainEqual({ url: 'http://169.254.169.254/latest/meta-data/', reason: expect.stringContaining('link-local') });
    await session.close();
  });

  it('follows an allowed redirect (in the guard: the page keeps the requested URL)', async () => {
    await openSession();
    const response = await navigate(session.page, `${origin}/to-self`, { timeoutMs: 10_000 });
    expect(response?.status()).toBe(200);
    await expect(session.page.textContent('h1')).resolves.toBe('Invoice 42');
    await session.close();
  });

  it('refuses a host whose name resolves to a private address', async () => {
    await openSession();
    await expect(robotError(navigate(session.page, 'http://intranet.test/', { timeoutMs: 10_000 }))).resolves.toEqual({ type: 'BUSINESS', code: 'EGRESS_BLOCKED' });
    expect(refusals).toContainEqual({ url: 'http://intranet.test/', reason: expect.stringContaining('10.0.0.7') });
    await session.close();
  });

  it('refuses private subresources but still loads the page', async () => {
    await openSession();
    const failed = session.page.waitForEvent('requestfailed', { timeout: 10_000 });
    await navigate(session.page, `${origin}/private-image`, { timeoutMs: 10_000 });
    expect((await failed).url()).toBe('http://10.0.0.1/x.png');
    expect(refusals.map((refusal) => refusal.url)).toContain('http://10.0.0.1/x.png');
    await session.close();
  });

  it('keeps Chromium off the network for what routing does not see (WebSockets)', async () => {
    await openSession();
    await navigate(session.page, `${origin}/`, { timeoutMs: 10_000 });
    const outcome = await session.page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(url);
          socket.onopen = () => resolve('open');
          socket.onerror = () => resolve('error');
        }),
      origin.replace('http', 'ws'),
    );
    expect(outcome).toBe('error');
    expect(upgradeRequests).toEqual([]);
    await session.close();
  });

  it('maps 404 to PAGE_NOT_FOUND and a slow page to a technical timeout', async () => {
    await openSession();
    await expect(robotError(navigate(session.page, `${origin}/missing`, { timeoutMs: 10_000 }))).resolves.toEqual({ type: 'BUSINESS', code: 'PAGE_NOT_FOUND' });
    await expect(robotError(navigate(session.page, `${origin}/slow`, { timeoutMs: 500 }))).resolves.toEqual({ type: 'TECHNICAL', code: 'NAVIGATION_TIMEOUT' });
    await session.close();
  });
});
