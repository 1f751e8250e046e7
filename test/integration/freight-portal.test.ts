import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import { findInvoice, PORTAL_ADMIN_HEADER, PORTAL_SESSION_COOKIE, startFreightPortal, type FreightPortal } from '../../sandbox/freight-portal';

/** The sandbox freight portal driven over HTTP like a browser would, cookies handled by hand. */
const CREDENTIALS = { username: 'robot', password: 'Portal-Test-Passw0rd!' };
const ADMIN_TOKEN = 'test-admin-token';

let portal: FreightPortal;
beforeAll(async () => {
  portal = await startFreightPortal({ ...CREDENTIALS, adminToken: ADMIN_TOKEN });
});
afterAll(() => portal?.close());
beforeEach(() => {
  portal.reset();
  portal.setFaults({});
});

const get = (target: FreightPortal, path: string, cookie?: string) =>
  fetch(new URL(path, target.url), { redirect: 'manual', headers: cookie ? { cookie } : {} });

function postLogin(target: FreightPortal, fields: Record<string, string>) {
  return fetch(new URL('/login', target.url), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
}

/** Logs in and returns the Cookie header value for the session. */
async function login(target: FreightPortal = portal): Promise<string> {
  const response = await postLogin(target, CREDENTIALS);
  expect(response.status).toBe(302);
  const cookie = /^([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
  if (!cookie) throw new Error('no session cookie');
  return cookie;
}

/** token null: no admin header at all. */
const admin = (path: string, init: RequestInit = {}, token: string | null = ADMIN_TOKEN) =>
  fetch(new URL(path, portal.url), { ...init, headers: { 'content-type': 'application/json', ...(token ? { [PORTAL_ADMIN_HEADER]: token } : {}) } });

describe('login', () => {
  it('serves the login form and sets an HttpOnly session cookie for valid credentials', async () => {
    const form = await (await get(portal, '/login')).text();
    expect(form).toContain('<form id="login" method="post" action="/login">');
    expect(form).toMatch(/<input name="username"/);
    expect(form).toMatch(/<input name="password" type="password"/);
    expect(form).toContain('<button type="submit">');

    const response = await postLogin(portal, CREDENTIALS);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/search');
    expect(response.headers.get('set-cookie')).toMatch(new RegExp(`^${PORTAL_SESSION_COOKIE}=[\\w-]{20,}; HttpOnly; Path=/; SameSite=Lax$`));
  });

  it('answers 401 with an error message for wrong credentials, and sets no cookie', async () => {
    for (const fields of [{ ...CREDENTIALS, password: 'wrong' }, { ...CREDENTIALS, username: 'someone' }, {}]) {
      const response = await postLogin(portal, fields);
      expect(response.status).toBe(401);
      expect(response.headers.get('set-cookie')).toBeNull();
      expect(await response.text()).toContain('<p class="error">Invalid credentials</p>');
    }
    expect(portal.stats().logins).toBe(0);
  });

  it('sends a visitor without a session to the login form and back to the page asked for', async () => {
    const denied = await get(portal, '/search?invoice=123456');
    expect(denied.status).toBe(302);
    const loginUrl = denied.headers.get('location')!;
    expect(loginUrl).toBe('/login?next=%2Fsearch%3Finvoice%3D123456');
    expect(await (await get(portal, loginUrl)).text()).toContain('<input type="hidden" name="next" value="/search?invoice=123456">');

    const back = await postLogin(portal, { ...CREDENTIALS, next: '/search?invoice=123456' });
    expect(back.headers.get('location')).toBe('/search?invoice=123456');
  });

  it('never redirects to another site after login', async () => {
    for (const next of ['//evil.example/', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/search\r\nx: y']) {
      expect((await postLogin(portal, { ...CREDENTIALS, next })).headers.get('location')).toBe('/search');
    }
  });
});

describe('invoice search', () => {
  it('finds every 6 to 12 digit invoice with a result table and a POD link', async () => {
    const cookie = await login();
    const form = await (await get(portal, '/search', cookie)).text();
    expect(form).toContain('<form id="search" method="get" action="/search">');
    expect(form).toMatch(/<input name="invoice"/);

    for (const invoice of ['123456', '000000000001', '40512345']) {
      const response = await get(portal, `/search?invoice=${invoice}`, cookie);
      expect(response.status).toBe(200);
      const html = await response.text();
      const record = findInvoice(invoice)!;
      expect(html).toContain('<table id="result">');
      expect(html).toContain(`<td class="invoice">${invoice}</td><td class="customer">${record.customer}</td><td class="delivered">${record.deliveredOn}</td>`);
      expect(html).toContain(`<a id="pod-download" href="/pod/${invoice}.pdf">Download POD</a>`);
    }
  });

  it('reports unknown invoices (404 prefix, wrong length, not digits) on a 200 page, escaping the query', async () => {
    const cookie = await login();
    for (const invoice of ['404123', '404000000000', '12345', '1234567890123', '12a456', '<b>1234567</b>']) {
      const response = await get(portal, `/search?invoice=${encodeURIComponent(invoice)}`, cookie);
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).not.toContain('<table id="result">');
      expect(html).toContain(`<p id="not-found">Invoice ${invoice.replace(/</g, '&#60;').replace(/>/g, '&#62;')} not found</p>`);
    }
    expect(portal.stats().searches).toBe(6);
  });
});

describe('POD download', () => {
  it('serves a valid PDF naming the invoice, the same bytes every time', async () => {
    const cookie = await login();
    const response = await get(portal, '/pod/987654321.pdf', cookie);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="POD-987654321.pdf"');
    const pdf = Buffer.from(await response.arrayBuffer());
    const text = pdf.toString('latin1');
    expect(text.startsWith('%PDF-1.4\n')).toBe(true);
    expect(text.trimEnd().endsWith('%%EOF')).toBe(true);
    expect(text).toContain('(Proof of delivery) Tj');
    expect(text).toContain('(Invoice 987654321) Tj');
    expect(text).toContain(`(Customer: ${findInvoice('987654321')!.customer}) Tj`);
    expectValidPdfStructure(pdf);

    const again = Buffer.from(await (await get(portal, '/pod/987654321.pdf', cookie)).arrayBuffer());
    expect(again.equals(pdf)).toBe(true);
    expect(Buffer.from(await (await get(portal, '/pod/123456.pdf', cookie)).arrayBuffer()).equals(pdf)).toBe(false);
  });

  it('answers 404 for an unknown invoice and sends a visitor without a session to login', async () => {
    const cookie = await login();
    expect((await get(portal, '/pod/404555.pdf', cookie)).status).toBe(404);
    expect((await get(portal, '/pod/12.pdf', cookie)).status).toBe(404);
    const anonymous = await get(portal, '/pod/123456.pdf');
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toBe('/login?next=%2Fpod%2F123456.pdf');
    const forged = await get(portal, '/pod/123456.pdf', `${PORTAL_SESSION_COOKIE}=made-up`);
    expect(forged.status).toBe(302);
    expect(portal.stats().totalDownloads).toBe(0);
  });

  it('answers 503 with Retry-After for an invoice starting with 503, every time', async () => {
    const cookie = await login();
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await get(portal, '/search?invoice=503000001', cookie);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
    }
  });

  it('counts downloads per invoice in the stats, over HTTP too, until reset', async () => {
    const cookie = await login();
    for (const invoice of ['111111', '222222', '111111']) expect((await get(portal, `/pod/${invoice}.pdf`, cookie)).status).toBe(200);
    await get(portal, '/search?invoice=111111', cookie);

    const expected = { logins: 1, rejectedLogins: 0, searches: 1, downloads: { '111111': 2, '222222': 1 }, totalDownloads: 3 };
    expect(portal.stats()).toEqual(expected);
    expect(await (await admin('/__admin/stats')).json()).toEqual(expected);

    const reset = await admin('/__admin/reset', { method: 'POST' });
    expect(await reset.json()).toEqual({ logins: 0, rejectedLogins: 0, searches: 0, downloads: {}, totalDownloads: 0 });
    expect((await get(portal, '/search', cookie)).status).toBe(302);
  });
});

describe('session expiry', () => {
  it('ends a session after sessionMaxRequests authenticated requests', async () => {
    const limited = await startFreightPortal({ ...CREDENTIALS, sessionMaxRequests: 2 });
    try {
      const cookie = await login(limited);
      expect((await get(limited, '/search?invoice=123456', cookie)).status).toBe(200);
      expect((await get(limited, '/pod/123456.pdf', cookie)).status).toBe(200);
      const expired = await get(limited, '/pod/123457.pdf', cookie);
      expect(expired.status).toBe(302);
      expect(expired.headers.get('location')).toBe('/login?next=%2Fpod%2F123457.pdf');
      // A new login gives a fresh allowance.
      expect((await get(limited, '/pod/123457.pdf', await login(limited))).status).toBe(200);
      expect(limited.stats()).toMatchObject({ logins: 2, totalDownloads: 2 });
    } finally {
      await limited.close();
    }
  });

  it('ends a session sessionTtlMs after login', async () => {
    const shortLived = await startFreightPortal({ ...CREDENTIALS, sessionTtlMs: 300 });
    try {
      const cookie = await login(shortLived);
      const loggedInAt = Date.now();
      expect((await get(shortLived, '/search', cookie)).status).toBe(200);
      await pollUntil(async () => ((await get(shortLived, '/search', cookie)).status === 302 ? true : undefined), {
        timeoutMs: 5_000,
        description: 'the session to expire',
      });
      expect(Date.now() - loggedInAt).toBeGreaterThanOrEqual(290);
    } finally {
      await shortLived.close();
    }
  });
});

describe('faults', () => {
  it('answers every Nth request 503 with errorEvery, set in process or over HTTP', async () => {
    const cookie = await login();
    portal.setFaults({ errorEvery: 3 });
    const statuses = async (count: number) => {
      const seen: number[] = [];
      for (let i = 0; i < count; i++) seen.push((await get(portal, '/search?invoice=123456', cookie)).status);
      return seen;
    };
    expect(await statuses(6)).toEqual([200, 200, 503, 200, 200, 503]);

    const set = await admin('/__admin/faults', { method: 'POST', body: JSON.stringify({ errorEvery: 2 }) });
    expect(await set.json()).toEqual({ faults: { errorEvery: 2 } });
    expect(await statuses(4)).toEqual([200, 503, 200, 503]);
    // Failed requests were not served, so they are not counted.
    expect(portal.stats().searches).toBe(6 - 2 + 4 - 2);
  });

  it('answers every request 503 with errorRate 1, and none with errorRate 0', async () => {
    portal.setFaults({ errorRate: 1 });
    const failed = await get(portal, '/login');
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('1');
    portal.setFaults({ errorRate: 0 });
    expect((await get(portal, '/login')).status).toBe(200);
  });

  it('adds latency to every page and extra delay to downloads', async () => {
    const cookie = await login();
    portal.setFaults({ latencyMs: 150, slowDownloadMs: 250 });
    const timed = async (path: string) => {
      const startedAt = performance.now();
      expect((await get(portal, path, cookie)).status).toBe(200);
      return performance.now() - startedAt;
    };
    expect(await timed('/search?invoice=123456')).toBeGreaterThanOrEqual(145);
    expect(await timed('/pod/123456.pdf')).toBeGreaterThanOrEqual(395);
  });

  it('keeps the admin hooks free of faults', async () => {
    portal.setFaults({ errorRate: 1 });
    expect((await admin('/__admin/stats')).status).toBe(200);
  });
});

describe('admin hooks', () => {
  it('refuse requests without the admin token or with a wrong one', async () => {
    for (const token of [null, 'wrong-token']) {
      expect((await admin('/__admin/stats', {}, token)).status).toBe(401);
      expect((await admin('/__admin/reset', { method: 'POST' }, token)).status).toBe(401);
      expect((await admin('/__admin/faults', { method: 'POST', body: '{"errorRate":1}' }, token)).status).toBe(401);
    }
    expect((await get(portal, '/login')).status).toBe(200);
  });

  it('refuse invalid faults with 400', async () => {
    for (const body of ['{"errorRate":2}', '{"latencyMs":-1}', '{"unknown":1}', 'not json']) {
      expect((await admin('/__admin/faults', { method: 'POST', body })).status).toBe(400);
    }
  });
});

/**
 * Checks what a PDF reader relies on: startxref points at the xref table, every in-use entry
 * points at its "N 0 obj", the trailer names a root, and the content stream's /Length is exact.
 */
function expectValidPdfStructure(pdf: Buffer): void {
  const text = pdf.toString('latin1');
  const startxref = Number(/startxref\n(\d+)\n%%EOF\n?$/.exec(text)?.[1]);
  expect(text.slice(startxref, startxref + 5)).toBe('xref\n');
  const [, first, count] = /^xref\n(\d+) (\d+)\n/.exec(text.slice(startxref)) ?? [];
  expect(Number(first)).toBe(0);
  const entriesStart = startxref + `xref\n0 ${count}\n`.length;
  for (let objectNumber = 1; objectNumber < Number(count); objectNumber++) {
    const entry = text.slice(entriesStart + objectNumber * 20, entriesStart + (objectNumber + 1) * 20);
    expect(entry).toMatch(/^\d{10} 00000 n \n$/);
    expect(text.slice(Number(entry.slice(0, 10))).startsWith(`${objectNumber} 0 obj\n`)).toBe(true);
  }
  expect(text).toMatch(new RegExp(`trailer\\n<< /Size ${count} /Root 1 0 R`));
  const stream = /\/Length (\d+) >>\nstream\n/.exec(text)!;
  const streamStart = stream.index + stream[0].length;
  expect(text.slice(streamStart + Number(stream[1]), streamStart + Number(stream[1]) + '\nendstream'.length)).toBe('\nendstream');
}
