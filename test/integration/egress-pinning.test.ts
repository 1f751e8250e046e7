import dns, { type LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EgressLookup } from '../../core/egress-guard';
import { servedHostsOf } from '../../runtime/egress-route';
import { WorkerBrowser, type JobSession } from '../../runtime/browser';

/**
 * DNS rebinding against the robot egress guard, in real Chromium: names whose first answer (the
 * guard's check) is one address and every later answer another. The system resolver gives the
 * same answers, as an attacker's DNS server would to any later query: without pinning,
 * Playwright's own resolution at connect time would get the second address.
 */
const CHECKED = '127.0.0.1';
const REBOUND = '127.0.0.2';
/** Stands in for the public address below, which is never contacted. */
const STAND_IN = '127.0.0.3';
const PUBLIC_ADDRESS = '93.184.216.34';

type Lookup = (hostname: string, options?: unknown) => Promise<LookupAddress | LookupAddress[]>;
const realLookup = dns.promises.lookup;

/** A name's A record: `first` once, `later` ever after; no AAAA record. */
class RebindingName {
  answers: string[] = [];
  constructor(
    readonly name: string,
    private readonly first: string,
    private readonly later: string,
  ) {}

  answer(family: number): LookupAddress[] {
    if (family === 6) return [];
    const address = this.answers.length === 0 ? this.first : this.later;
    this.answers.push(address);
    return [{ address, family: 4 }];
  }
}

const names = new Map<string, RebindingName>();

/** The rebinding names in the shape dns.promises.lookup answers; anything else as before. */
const rebindingDns: Lookup = async (hostname, options) => {
  const rebinding = names.get(hostname);
  if (!rebinding) return (realLookup as Lookup)(hostname, options);
  const requested = typeof options === 'number' ? options : ((options as { family?: number } | undefined)?.family ?? 0);
  const addresses = rebinding.answer(requested);
  if (addresses.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return (options as { all?: boolean } | undefined)?.all ? addresses : addresses[0]!;
};
/** The same answers for the guard's check, injected on the policy. */
const rebindingPolicyLookup: EgressLookup = async (hostname, options) => (await rebindingDns(hostname, options)) as LookupAddress[];

interface Listener {
  server: Server;
  connections: number;
  requests: string[];
}

/** A page with a subresource and a script fetch behind a redirect, naming the listener that served it. */
async function listen(host: string, port: number, label: string): Promise<Listener> {
  const listener: Listener = { server: createServer(), connections: 0, requests: [] };
  listener.server.on('connection', () => listener.connections++);
  listener.server.on('request', (request, response) => {
    listener.requests.push(request.url ?? '');
    if (request.url === '/hop') return void response.writeHead(302, { location: '/' }).end();
    if (request.url?.startsWith('/away?to=')) return void response.writeHead(302, { location: decodeURIComponent(request.url.slice('/away?to='.length)) }).end();
    if (request.url === '/pixel.png') return void response.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from('89504e470d0a1a0a', 'hex'));
    if (request.url === '/api') return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    response
      .writeHead(200, { 'content-type': 'text/html' })
      .end(`<!doctype html><h1>${label}</h1><img src="/pixel.png"><script>fetch('/api').then((r) => r.json()).then((b) => (window.apiOk = b.ok))</script>`);
  });
  await new Promise<void>((resolve, reject) => {
    listener.server.once('error', reject);
    listener.server.listen(port, host, () => (listener.server.off('error', reject), resolve()));
  });
  return listener;
}

const listeners: Listener[] = [];
/**
 * Two listeners on one port of two addresses (a name's checked and rebound answers). The port is
 * free on the first address only, so another process may hold it on the second: try another one.
 */
async function listenerPair(hosts: [string, string], labels: [string, string]): Promise<[Listener, Listener]> {
  for (let tries = 1; ; tries++) {
    const first = await listen(hosts[0], 0, labels[0]);
    try {
      const second = await listen(hosts[1], (first.server.address() as AddressInfo).port, labels[1]);
      listeners.push(first, second);
      return [first, second];
    } catch (error) {
      await new Promise((resolve) => first.server.close(resolve));
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries === 10) throw error;
    }
  }
}
const portOf = (listener: Listener) => (listener.server.address() as AddressInfo).port;

const browser = new WorkerBrowser({ executablePath: process.env.CHROMIUM_PATH, closeTimeoutMs: 5_000 });
const refusals: string[] = [];
let session: JobSession | undefined;

beforeAll(() => {
  // Before any session: the pinning lookup wraps whatever resolver the process has.
  dns.promises.lookup = rebindingDns as typeof dns.promises.lookup;
});

afterAll(async () => {
  await session?.close();
  await browser.close();
  dns.promises.lookup = realLookup;
  for (const { server } of listeners) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function loadPage(url: string): Promise<string | null> {
  const page = session!.page;
  await page.goto(url, { timeout: 10_000 });
  await page.waitForFunction(() => (window as unknown as { apiOk?: boolean }).apiOk === true, undefined, { timeout: 10_000 });
  return page.textContent('h1');
}

describe('robot egress pinned to the addresses the guard checked', () => {
  it('connects every request and redirect hop of an allowlisted name to the checked address, never to the rebound one', async () => {
    const [checked, rebound] = await listenerPair([CHECKED, REBOUND], ['checked', 'rebound']);
    const name = new RebindingName('portal.rebind.test', CHECKED, REBOUND);
    names.set(name.name, name);
    const origin = `http://${name.name}:${portOf(checked)}`;
    session = await browser.open({ allowHosts: [new URL(origin).host], lookup: rebindingPolicyLookup, onRefused: (url) => refusals.push(url) });

    await expect(loadPage(`${origin}/hop`)).resolves.toBe('checked');

    // The rebinding is live: any resolution outside a guarded request gets the other address.
    await expect(dns.promises.lookup(name.name)).resolves.toMatchObject({ address: REBOUND });
    console.info(
      `egress pinning (allowlisted name): answers ${name.answers.join(' → ')}; requests to checked=${checked.requests.length} ` +
        `(${checked.requests.join(' ')}), connections checked=${checked.connections} rebound=${rebound.connections}`,
    );
    expect(checked.requests).toEqual(expect.arrayContaining(['/hop', '/', '/pixel.png', '/api']));
    expect(rebound.connections).toBe(0);
    expect(name.answers[0]).toBe(CHECKED);
    await session.close();
  });

  it('never connects to the private address a public name rebinds to', async () => {
    const [standIn, privateListener] = await listenerPair([STAND_IN, CHECKED], ['public', 'private']);
    const name = new RebindingName('evil.rebind.test', PUBLIC_ADDRESS, CHECKED);
    names.set(name.name, name);
    const url = `http://${name.name}:${portOf(standIn)}/hop`;
    session = await browser.open({ allowHosts: [], lookup: rebindingPolicyLookup, onRefused: (refused) => refusals.push(refused) });
    // Above the pinning lookup: what Playwright connects to, with the public address redirected
    // to a local stand-in so that nothing leaves this machine.
    const pinning = dns.promises.lookup as Lookup;
    const connectAnswers: string[] = [];
    dns.promises.lookup = (async (hostname: string, options?: unknown) => {
      const answer = await pinning(hostname, options);
      const addresses = Array.isArray(answer) ? answer : [answer];
      if (hostname === name.name) connectAnswers.push(...addresses.map(({ address }) => address));
      const local = addresses.map(({ address, family }) => ({ address: address === PUBLIC_ADDRESS ? STAND_IN : address, family }));
      return Array.isArray(answer) ? local : local[0]!;
    }) as typeof dns.promises.lookup;
    try {
      await expect(loadPage(url)).resolves.toBe('public');
    } finally {
      dns.promises.lookup = pinning as typeof dns.promises.lookup;
    }

    await expect(dns.promises.lookup(name.name)).resolves.toMatchObject({ address: CHECKED });
    console.info(
      `egress pinning (rebinding to a private address): answers ${name.answers.join(' → ')}; Playwright connected to ${[...new Set(connectAnswers)].join(', ')} ` +
        `(${standIn.requests.length} requests); connections to the private listener=${privateListener.connections}`,
    );
    expect(privateListener.connections).toBe(0);
    expect(new Set(connectAnswers)).toEqual(new Set([PUBLIC_ADDRESS]));
    expect(standIn.requests).toEqual(expect.arrayContaining(['/hop', '/', '/pixel.png', '/api']));
    expect(refusals).toEqual([]);
    await session.close();
  });

  it('records which host served a navigation redirected to another origin, and none for a redirect within the origin', async () => {
    const site = await listen(CHECKED, 0, 'site');
    listeners.push(site);
    const origin = `http://${CHECKED}:${portOf(site)}`;
    const elsewhere = `http://localhost:${portOf(site)}/`;
    session = await browser.open({ allowHosts: [new URL(origin).host, new URL(elsewhere).host], onRefused: (url) => refusals.push(url) });

    await loadPage(`${origin}/hop`);
    const away = `${origin}/away?to=${encodeURIComponent(elsewhere)}`;
    const response = await session.page.goto(away, { timeout: 10_000 });
    expect(response?.status()).toBe(200);
    // The guard followed the redirect itself: the document keeps its first URL, and the credentials fill asks who served it.
    expect(session.page.url()).toBe(away);
    expect(servedHostsOf(session.page.context())).toEqual({ [away]: new URL(elsewhere).host });
    await session.close();
  });
});
