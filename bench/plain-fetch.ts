import { PORTAL_SESSION_COOKIE } from '../sandbox/freight-portal';
import { assertPod } from './pod-check';
import type { PortalTarget } from './worker-harness';

/**
 * The upper bound without a browser: sign in with one form POST, then GET each /pod/N.pdf with
 * the session cookie, one after the other as the robot does. No search page, no rendering.
 */
export async function fetchPods(portal: PortalTarget, invoices: readonly string[]): Promise<void> {
  const cookie = await logIn(portal);
  for (const invoice of invoices) {
    const response = await fetch(new URL(`/pod/${invoice}.pdf`, portal.url), { headers: { cookie }, redirect: 'manual' });
    if (response.status !== 200) throw new Error(`GET /pod/${invoice}.pdf answered ${response.status}`);
    assertPod(invoice, new Uint8Array(await response.arrayBuffer()));
  }
}

async function logIn({ url, username, password }: PortalTarget): Promise<string> {
  const response = await fetch(new URL('/login', url), { method: 'POST', body: new URLSearchParams({ username, password }), redirect: 'manual' });
  await response.arrayBuffer();
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(';')[0] ?? '')
    .find((pair) => pair.startsWith(`${PORTAL_SESSION_COOKIE}=`));
  if (response.status !== 302 || !cookie) throw new Error(`portal login answered ${response.status} without a session cookie`);
  return cookie;
}
