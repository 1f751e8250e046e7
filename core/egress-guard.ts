import { BlockList, isIP } from 'node:net';
import { promises as dns } from 'node:dns';

/**
 * SSRF guard for every URL a robot visits and every webhook URL. A robot runs next to the
 * Fargate credentials endpoint (169.254.170.2) and inside the VPC, so anything that is not a
 * public address is refused unless its host[:port] is allowlisted (the local sandbox).
 *
 *   staticEgressViolation: synchronous, at submit time (scheme, credentials, literal hosts)
 *   checkEgress:           before each request (the above, plus every address the name resolves to)
 */

interface AddressRange {
  family: 'ipv4' | 'ipv6';
  network: string;
  prefix: number;
  label: string;
}

const NON_PUBLIC_RANGES: readonly AddressRange[] = [
  { family: 'ipv4', network: '0.0.0.0', prefix: 8, label: 'unspecified ("this network")' },
  { family: 'ipv4', network: '10.0.0.0', prefix: 8, label: 'private' },
  { family: 'ipv4', network: '100.64.0.0', prefix: 10, label: 'carrier-grade NAT' },
  { family: 'ipv4', network: '127.0.0.0', prefix: 8, label: 'loopback' },
  { family: 'ipv4', network: '169.254.0.0', prefix: 16, label: 'link-local (cloud metadata and credentials)' },
  { family: 'ipv4', network: '172.16.0.0', prefix: 12, label: 'private' },
  { family: 'ipv4', network: '192.0.0.0', prefix: 24, label: 'IETF protocol assignments' },
  { family: 'ipv4', network: '192.0.2.0', prefix: 24, label: 'documentation' },
  { family: 'ipv4', network: '192.168.0.0', prefix: 16, label: 'private' },
  { family: 'ipv4', network: '198.18.0.0', prefix: 15, label: 'benchmarking' },
  { family: 'ipv4', network: '198.51.100.0', prefix: 24, label: 'documentation' },
  { family: 'ipv4', network: '203.0.113.0', prefix: 24, label: 'documentation' },
  { family: 'ipv4', network: '224.0.0.0', prefix: 4, label: 'multicast' },
  { family: 'ipv4', network: '240.0.0.0', prefix: 4, label: 'reserved or broadcast' },
  // ::/96 holds :: (unspecified), ::1 (loopback) and the deprecated IPv4-compatible forms.
  { family: 'ipv6', network: '::', prefix: 96, label: 'unspecified, loopback or IPv4-compatible' },
  // Mapped, NAT64, 6to4 and Teredo addresses embed an IPv4 address that may be private.
  { family: 'ipv6', network: '::ffff:0:0', prefix: 96, label: 'IPv4-mapped' },
  { family: 'ipv6', network: '64:ff9b::', prefix: 96, label: 'NAT64' },
  { family: 'ipv6', network: '64:ff9b:1::', prefix: 48, label: 'local NAT64' },
  { family: 'ipv6', network: '100::', prefix: 64, label: 'discard-only' },
  { family: 'ipv6', network: '2001::', prefix: 32, label: 'Teredo' },
  { family: 'ipv6', network: '2001:db8::', prefix: 32, label: 'documentation' },
  { family: 'ipv6', network: '2002::', prefix: 16, label: '6to4' },
  { family: 'ipv6', network: 'fc00::', prefix: 7, label: 'unique local' },
  { family: 'ipv6', network: 'fe80::', prefix: 10, label: 'link-local' },
  { family: 'ipv6', network: 'fec0::', prefix: 10, label: 'site-local' },
  { family: 'ipv6', network: 'ff00::', prefix: 8, label: 'multicast' },
];

/**
 * One BlockList per range, checked only against addresses of the range's family: a single
 * list holding ::ffff:0:0/96 would also match every plain IPv4 address.
 */
const RANGE_CHECKS = NON_PUBLIC_RANGES.map((range) => {
  const list = new BlockList();
  list.addSubnet(range.network, range.prefix, range.family);
  return { ...range, list };
});

/** The label of the non-public range `address` (an IP literal) falls in, if any. */
export function nonPublicRange(address: string): string | undefined {
  const family = isIP(address) === 4 ? 'ipv4' : isIP(address) === 6 ? 'ipv6' : undefined;
  if (!family) return undefined;
  return RANGE_CHECKS.find((range) => range.family === family && range.list.check(address, family))?.label;
}

export function staticEgressViolation(url: string, allowHosts: readonly string[]): string | undefined {
  return inspect(url, allowHosts).violation;
}

export type EgressLookup = (hostname: string, options: { all: true }) => Promise<ReadonlyArray<{ address: string; family: number }>>;

const systemLookup: EgressLookup = (hostname, options) => dns.lookup(hostname, options);

/**
 * The static check, then every address the host resolves to must be public. A failing lookup
 * rejects (it is not a refusal: the host may simply be down or mistyped).
 */
export async function checkEgress(url: string, allowHosts: readonly string[], lookup: EgressLookup = systemLookup): Promise<string | undefined> {
  const { violation, allowed, hostname } = inspect(url, allowHosts);
  if (violation || allowed || !hostname || isIP(hostname)) return violation;
  const addresses = await lookup(hostname, { all: true });
  if (addresses.length === 0) return `${hostname} resolves to no address`;
  for (const { address } of addresses) {
    const range = nonPublicRange(address);
    if (range) return `${hostname} resolves to ${address}, a ${range} address`;
  }
  return undefined;
}

interface Inspection {
  violation?: string;
  /** true when the host is allowlisted: no address checks apply. */
  allowed?: boolean;
  /** The host without IPv6 brackets or a trailing dot. */
  hostname?: string;
}

function inspect(rawUrl: string, allowHosts: readonly string[]): Inspection {
  let url: URL;
  try {
    // The WHATWG parser normalises decimal/octal/hex IPv4 and IPv6 spellings to one form.
    url = new URL(rawUrl);
  } catch {
    return { violation: 'is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { violation: `scheme ${url.protocol} is not allowed; use http or https` };
  if (url.username || url.password) return { violation: 'credentials in the URL are not allowed' };
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (isAllowlisted(url, allowHosts)) return { allowed: true, hostname };
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return { violation: `host ${hostname} is local`, hostname };
  const range = nonPublicRange(hostname);
  if (range) return { violation: `host ${hostname} is a ${range} address`, hostname };
  return { hostname };
}

/** An entry with a port allows exactly that host:port; an entry without one allows the host on any port. */
function isAllowlisted(url: URL, allowHosts: readonly string[]): boolean {
  return allowHosts.some((entry) => {
    const normalised = entry.trim().toLowerCase();
    return normalised === url.host || normalised === url.hostname;
  });
}
