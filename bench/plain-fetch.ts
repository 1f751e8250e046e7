import { PORTAL_SESSION_COOKIE } from '../sandbox/freight-portal';
import { assertPod } from './pod-check';
import type { PortalTarget } from './worker-harness';

/**
 * The upper bound without a browser: sign in with one form POST, then GET each /pod/N.pdf with
 * the session cookie, `concurrency` at a time (one after the other by default, as one robot page
 * does). No search page, no rendering.
 */
export async function fetchPods(portal: PortalTarget, invoices: readonly string[], concurrency = 1): Promise<void> {
  const cookie = await logIn(portal);
  let next = 0;
  const fetchNext = async (): Promise<void> => {
    for (let invoice = invoices[next++]; invoice !== undefined; invoice = invoices[next++]) {
      const response = await fetch(new URL(`/pod/${invoice}.pdf`, portal.url), { headers: { cookie }, redirect: 'manual' });
      if (response.status !== 200) throw new Error(`GET /pod/${invoice}.pdf answered ${response.status}`);
      assertPod(invoice, new Uint8Array(await response.arrayBuffer()));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, invoices.length) }, fetchNext));
}

export async function logIn({ url, username, password }: PortalTarget): Promise<string> {
  const response = await fetch(new URL('/login', url), { method: 'POST', body: new URLSearchParams({ username, password }), redirect: 'manual' });
  await response.arrayBuffer();
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(';')[0] ?? '')
    .find((pair) => pair.startsWith(`${PORTAL_SESSION_COOKIE}=`));
  if (response.status !== 302 || !cookie) throw new Error(`portal login answered ${response.status} without a session cookie`);
  return cookie;
}
