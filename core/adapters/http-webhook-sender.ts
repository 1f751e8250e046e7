import { promises as dns } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkEgress, type EgressLookup } from '../egress-guard';
import type { WebhookSender } from '../webhooks';

type ResolvedAddresses = ReadonlyArray<{ address: string; family: number }>;

export interface HttpWebhookSenderOptions {
  /** host[:port] the egress guard lets through although private (the local sandbox). */
  allowHosts: readonly string[];
  /** The whole attempt, connect to response headers. */
  timeoutMs: number;
  /** DNS resolution; tests replace it. */
  lookup?: EgressLookup;
}

/**
 * POSTs webhooks through the egress guard. The host is resolved once, every address checked,
 * and the connection pinned to those addresses, so a DNS answer that changes between the check
 * and the connect (DNS rebinding) cannot reach a private address. Redirects are not followed:
 * a 3xx is the receiver's answer, and not a 2xx.
 */
export class HttpWebhookSender implements WebhookSender {
  constructor(private readonly options: HttpWebhookSenderOptions) {}

  async post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number } | { refused: string }> {
    const lookup = this.options.lookup ?? ((hostname, options) => dns.lookup(hostname, options));
    let resolved: ResolvedAddresses | undefined;
    const violation = await checkEgress(url, this.options.allowHosts, async (hostname, options) => (resolved = await lookup(hostname, options)));
    if (violation) return { refused: violation };
    return { status: await postOnce(new URL(url), body, headers, this.options.timeoutMs, resolved) };
  }
}

/** Resolves with the response status as soon as the headers arrive; the receiver's body is not read. */
function postOnce(url: URL, body: string, headers: Record<string, string>, timeoutMs: number, pinned: ResolvedAddresses | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(timeoutMs),
        ...(pinned ? { lookup: pinnedLookup(pinned) } : {}),
      },
      (response) => {
        resolve(response.statusCode ?? 0);
        response.destroy();
      },
    );
    request.on('error', (error) => reject(error.name === 'AbortError' ? new Error(`no response within ${timeoutMs} ms`) : error));
    request.end(body);
  });
}

/** A lookup that answers the addresses checkEgress approved, in either callback form net asks for. */
function pinnedLookup(addresses: ResolvedAddresses): LookupFunction {
  // checkEgress refuses a host that resolves to nothing, so there is a first address.
  const [first] = addresses as [ResolvedAddresses[number], ...ResolvedAddresses];
  return (_hostname, options, callback) => {
    if (options.all) callback(null, addresses.map(({ address, family }) => ({ address, family })));
    else callback(null, first.address, first.family);
  };
}
