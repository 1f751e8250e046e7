import { describe, expect, it } from 'vitest';
import { PinnedNames, pinnedAnswer, type NameResolver } from '../../runtime/pinned-names';

/** A resolver answering 10.0.0.<n> on its n-th call, counting calls. */
function countingResolver(): NameResolver & { calls: number } {
  const resolver = Object.assign(async () => [{ address: `10.0.0.${++resolver.calls}`, family: 4 }], { calls: 0 });
  return resolver;
}

function clock(start = 0) {
  const time = { now: start, advance: (ms: number) => void (time.now += ms) };
  return time;
}

describe('PinnedNames', () => {
  it('resolves a name once while its pin is current, and answers lookups only while a request holds it', async () => {
    const time = clock();
    const pins = new PinnedNames(60_000, () => time.now);
    const resolve = countingResolver();

    const holds = await Promise.all([1, 2, 3].map(() => pins.hold('Portal.Example.', resolve)));
    expect(resolve.calls).toBe(1);
    expect(holds.map((hold) => hold.addresses[0]?.address)).toEqual(['10.0.0.1', '10.0.0.1', '10.0.0.1']);
    expect(pins.pinned('portal.example')).toEqual([{ address: '10.0.0.1', family: 4 }]);

    for (const hold of holds) hold.release();
    expect(pins.pinned('portal.example')).toBeUndefined();
    time.advance(59_999);
    await pins.hold('portal.example', resolve);
    expect(resolve.calls).toBe(1);
  });

  it('renews an expired pin only once the requests checked against it are over', async () => {
    const time = clock();
    const pins = new PinnedNames(60_000, () => time.now);
    const resolve = countingResolver();
    const inFlight = await pins.hold('portal.example', resolve);
    time.advance(60_000);

    let renewed: Awaited<ReturnType<PinnedNames['hold']>> | undefined;
    const waiting = pins.hold('portal.example', resolve).then((hold) => (renewed = hold));
    await Promise.resolve();
    // The request in flight was checked against 10.0.0.1: that is what it still connects to.
    expect(renewed).toBeUndefined();
    expect(pins.pinned('portal.example')?.[0]?.address).toBe('10.0.0.1');

    inFlight.release();
    inFlight.release(); // a second release changes nothing
    await waiting;
    expect(renewed?.addresses[0]?.address).toBe('10.0.0.2');
    expect(pins.pinned('portal.example')?.[0]?.address).toBe('10.0.0.2');
    expect(resolve.calls).toBe(2);
  });

  it('does not remember a failed resolution', async () => {
    const pins = new PinnedNames();
    let calls = 0;
    const flaky: NameResolver = async () => {
      if (++calls === 1) throw Object.assign(new Error('getaddrinfo EAI_AGAIN portal.example'), { code: 'EAI_AGAIN' });
      return [{ address: '203.0.113.9', family: 4 }];
    };

    await expect(pins.hold('portal.example', flaky)).rejects.toThrow('EAI_AGAIN');
    expect(pins.pinned('portal.example')).toBeUndefined();
    await expect(pins.hold('portal.example', flaky)).resolves.toMatchObject({ addresses: [{ address: '203.0.113.9' }] });
  });
});

describe('pinnedAnswer', () => {
  const addresses = [
    { address: '2001:db8::5', family: 6 },
    { address: '198.51.100.5', family: 4 },
  ];

  it('answers in the shape dns.promises.lookup is asked for', () => {
    expect(pinnedAnswer('portal.example', addresses, { all: true })).toEqual(addresses);
    expect(pinnedAnswer('portal.example', addresses, { all: true, family: 4 })).toEqual([addresses[1]]);
    expect(pinnedAnswer('portal.example', addresses, { family: 'IPv6' })).toEqual(addresses[0]);
    expect(pinnedAnswer('portal.example', addresses, 4)).toEqual(addresses[1]);
    expect(pinnedAnswer('portal.example', addresses, undefined)).toEqual(addresses[0]);
  });

  it('has no address of a family the pin lacks, as DNS would say', () => {
    expect(() => pinnedAnswer('portal.example', [addresses[1]!], { all: true, family: 6 })).toThrow(expect.objectContaining({ code: 'ENOTFOUND' }));
  });
});
