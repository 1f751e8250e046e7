import dns from 'node:dns';
import type { LookupAddress } from 'node:dns';

/**
 * DNS pinning for the robot egress guard (egress-route.ts): the address the guard checked is the
 * one Playwright connects to, so a DNS answer that changes after the check (rebinding) is never used.
 *
 * Why pin the resolver rather than fetch ourselves: route.fetch runs in this process and keeps
 * what pages rely on (the context's cookie jar, a login's 302 + Set-Cookie included, decoding,
 * TLS, bodies that never cross the client protocol). It takes no lookup option but resolves every
 * name through dns.promises.lookup (dualStackLookup, playwright-core 1.65), which this module
 * answers for pinned names.
 *
 * Why it is safe although that lookup cannot tell jobs apart (pins are per process and name):
 *   1. The guard checks the pin's addresses under the job's own policy, not an answer of its own.
 *   2. A pin does not change while a request checked against it is in flight (a hold lasts from
 *      the check to the end of the fetch; each redirect hop is held on its own).
 *   3. Only names with a request in flight are answered from pins; every other lookup in the
 *      process goes to the system resolver as before.
 * A pin is renewed PIN_TTL_MS after it was made, once no request holds it (new requests wait,
 * at most one fetch timeout). IP literals need no pin; keep-alive sockets of a context were
 * opened to addresses its own checks approved. Should Playwright stop resolving this way,
 * test/integration/egress-pinning.test.ts fails.
 */

export type ResolvedAddress = Pick<LookupAddress, 'address' | 'family'>;

/** Resolves a name to every address (a test's lookup, or the system's). */
export type NameResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** A name's pinned addresses for one request; `release` once the request is over. */
export interface PinHold {
  addresses: readonly ResolvedAddress[];
  release(): void;
}

/** Long enough to spare DNS a query per request, short enough to follow a portal moving. */
const PIN_TTL_MS = 60_000;

interface Pin {
  createdAt: number;
  resolving: Promise<readonly ResolvedAddress[]>;
  addresses?: readonly ResolvedAddress[];
  holders: number;
  /** Resolves when the last holder releases; made when someone waits for that. */
  idle?: { promise: Promise<void>; resolve: () => void };
}

export class PinnedNames {
  private readonly pins = new Map<string, Pin>();

  constructor(
    private readonly ttlMs = PIN_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Holds the addresses `hostname` is pinned to, resolving it with `resolve` when there is no
   * current pin. A failed resolution is not remembered.
   */
  async hold(hostname: string, resolve: NameResolver): Promise<PinHold> {
    const key = nameKey(hostname);
    for (;;) {
      const pin = this.pins.get(key);
      if (pin && !this.expired(pin)) return this.holdOn(pin);
      // Expired, but requests checked against it are still in flight: it may not change yet.
      if (pin && pin.holders > 0) {
        await this.idleOf(pin);
        continue;
      }
      this.sweep();
      const created: Pin = { createdAt: this.now(), holders: 0, resolving: resolve(hostname) };
      created.resolving.then(
        (addresses) => void (created.addresses = addresses),
        () => this.pins.get(key) === created && this.pins.delete(key),
      );
      this.pins.set(key, created);
      return this.holdOn(created);
    }
  }

  /** The pinned addresses of a name a request is in flight for; undefined for any other name. */
  pinned(hostname: string): readonly ResolvedAddress[] | undefined {
    const pin = this.pins.get(nameKey(hostname));
    return pin && pin.holders > 0 ? pin.addresses : undefined;
  }

  private async holdOn(pin: Pin): Promise<PinHold> {
    pin.holders++;
    let addresses: readonly ResolvedAddress[];
    try {
      addresses = await pin.resolving;
    } catch (error) {
      this.release(pin);
      throw error;
    }
    let released = false;
    return {
      addresses,
      release: () => {
        if (!released) this.release(pin);
        released = true;
      },
    };
  }

  private release(pin: Pin): void {
    pin.holders--;
    if (pin.holders === 0) pin.idle?.resolve();
  }

  private idleOf(pin: Pin): Promise<void> {
    if (!pin.idle) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      pin.idle = { promise, resolve };
    }
    return pin.idle.promise;
  }

  private expired(pin: Pin): boolean {
    return this.now() - pin.createdAt >= this.ttlMs;
  }

  /** Forgets expired pins nobody holds, so that names visited once do not pile up. */
  private sweep(): void {
    for (const [key, pin] of this.pins) if (pin.holders === 0 && this.expired(pin)) this.pins.delete(key);
  }
}

/** The form a name has in a URL and in a lookup call alike ("Portal.example." is "portal.example"). */
function nameKey(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

type LookupOptions = number | dns.LookupOptions | undefined;
type Lookup = (hostname: string, options?: LookupOptions) => Promise<LookupAddress | LookupAddress[]>;

/** What dns.promises.lookup answers for `hostname` when it is pinned to `addresses`. */
export function pinnedAnswer(hostname: string, addresses: readonly ResolvedAddress[], options: LookupOptions): LookupAddress | LookupAddress[] {
  const requested = typeof options === 'number' ? options : familyNumber(options?.family);
  const matching = addresses.filter(({ family }) => requested === 0 || family === requested).map(({ address, family }) => ({ address, family }));
  if (matching.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname, syscall: 'getaddrinfo' });
  return typeof options === 'object' && options.all ? matching : matching[0]!;
}

function familyNumber(family: number | 'IPv4' | 'IPv6' | undefined): number {
  if (family === 'IPv4') return 4;
  if (family === 'IPv6') return 6;
  return family ?? 0;
}

let installed: { pins: PinnedNames; systemLookup: NameResolver } | undefined;

/**
 * The process's pins, answering dns.promises.lookup from the first call on, and the system
 * resolver as it was before (what new pins resolve with unless a policy brings its own).
 */
export function processPins(): { pins: PinnedNames; systemLookup: NameResolver } {
  if (!installed) {
    const pins = new PinnedNames();
    const system = dns.promises.lookup.bind(dns.promises) as Lookup;
    const pinning: Lookup = async (hostname, options) => {
      const addresses = pins.pinned(hostname);
      return addresses ? pinnedAnswer(hostname, addresses, options) : system(hostname, options);
    };
    dns.promises.lookup = pinning as typeof dns.promises.lookup;
    installed = { pins, systemLookup: async (hostname) => (await system(hostname, { all: true })) as LookupAddress[] };
  }
  return installed;
}
