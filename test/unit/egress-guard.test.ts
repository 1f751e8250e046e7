import { describe, expect, it, vi } from 'vitest';
import { checkEgress, nonPublicRange, staticEgressViolation, type EgressLookup } from '../../core/egress-guard';

const resolvingTo =
  (...addresses: string[]): EgressLookup =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('nonPublicRange', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['169.254.170.2', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['224.0.0.251', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::ffff:169.254.169.254', 'IPv4-mapped'],
    ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ['64:ff9b::a9fe:a9fe', 'NAT64'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
  ])('%s is %s', (address, label) => {
    expect(nonPublicRange(address)).toContain(label);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.255.0.1', '2606:4700:4700::1111'])('%s is public', (address) => {
    expect(nonPublicRange(address)).toBeUndefined();
  });
});

describe('staticEgressViolation', () => {
  it.each(['https://example.com/', 'http://example.com:8080/path?q=1', 'https://93.184.216.34/', 'https://[2606:4700::1111]/'])(
    'lets %s through',
    (url) => {
      expect(staticEgressViolation(url, [])).toBeUndefined();
    },
  );

  it.each([
    ['ftp://example.com/', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['javascript:alert(1)', 'scheme'],
    ['not a url', 'not a valid URL'],
    ['https://user:secret@example.com/', 'credentials'],
    ['https://user@example.com/', 'credentials'],
  ])('refuses %s (%s)', (url, reason) => {
    expect(staticEgressViolation(url, [])).toContain(reason);
  });

  it.each([
    'http://localhost/',
    'http://LOCALHOST:3000/',
    'http://localhost./',
    'http://api.localhost/',
    'http://127.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.170.2/v2/credentials',
    'http://10.0.0.1/',
    'http://192.168.0.1/',
    'http://172.20.0.1/',
    'http://100.100.100.200/',
    'http://0.0.0.0/',
    'http://[::1]/',
    'http://[0:0:0:0:0:0:0:1]/',
    'http://[::]/',
    'http://[::ffff:169.254.169.254]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::127.0.0.1]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    // Decimal, hex, octal and short IPv4 spellings of loopback / metadata.
    'http://2130706433/',
    'http://0x7f000001/',
    'http://0x7f.1/',
    'http://0177.0.0.1/',
    'http://127.1/',
    'http://2852039166/',
    'http://0xa9.0xfe.0xa9.0xfe/',
    'http://0/',
  ])('refuses %s', (url) => {
    expect(staticEgressViolation(url, [])).toMatch(/local|address/);
  });

  it('lets an allowlisted host:port through, and only on that port', () => {
    const allow = ['127.0.0.1:4566'];
    expect(staticEgressViolation('http://127.0.0.1:4566/x', allow)).toBeUndefined();
    expect(staticEgressViolation('http://127.0.0.1:4567/x', allow)).toContain('loopback');
    expect(staticEgressViolation('http://127.0.0.1/x', allow)).toContain('loopback');
  });

  it('lets an allowlisted host without port through on any port', () => {
    expect(staticEgressViolation('http://localhost:9229/', ['localhost'])).toBeUndefined();
    expect(staticEgressViolation('http://[::1]:8080/', ['[::1]'])).toBeUndefined();
  });

  it('still refuses other schemes and credentials on allowlisted hosts', () => {
    expect(staticEgressViolation('ftp://127.0.0.1:4566/', ['127.0.0.1:4566'])).toContain('scheme');
    expect(staticEgressViolation('http://a:b@127.0.0.1:4566/', ['127.0.0.1:4566'])).toContain('credentials');
  });
});

describe('checkEgress', () => {
  it('lets a name through that resolves only to public addresses', async () => {
    expect(await checkEgress('https://example.com/', [], resolvingTo('93.184.216.34', '2606:2800:220:1::'))).toBeUndefined();
  });

  it.each(['169.254.169.254', '10.0.0.5', '127.0.0.1', '::1', 'fd00::5', '::ffff:10.0.0.5'])(
    'refuses a name resolving to %s',
    async (address) => {
      expect(await checkEgress('https://rebind.example/', [], resolvingTo(address))).toContain(`resolves to ${address}`);
    },
  );

  it('refuses when any one of several addresses is private', async () => {
    expect(await checkEgress('https://mixed.example/', [], resolvingTo('93.184.216.34', '192.168.1.10'))).toContain('192.168.1.10');
  });

  it('refuses a name that resolves to nothing', async () => {
    expect(await checkEgress('https://empty.example/', [], resolvingTo())).toContain('no address');
  });

  it('does not resolve literal addresses, refused or public', async () => {
    const lookup = vi.fn(resolvingTo('8.8.8.8'));
    expect(await checkEgress('http://169.254.169.254/', [], lookup)).toContain('link-local');
    expect(await checkEgress('http://8.8.8.8/', [], lookup)).toBeUndefined();
    expect(lookup).not.toHaveBeenCalled();
  });

  it('does not resolve allowlisted hosts', async () => {
    const lookup = vi.fn(resolvingTo('10.0.0.1'));
    expect(await checkEgress('http://internal.test:8080/', ['internal.test:8080'], lookup)).toBeUndefined();
    expect(lookup).not.toHaveBeenCalled();
  });

  it('passes a failing lookup on to the caller', async () => {
    const lookup: EgressLookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example'), { code: 'ENOTFOUND' });
    };
    await expect(checkEgress('https://nowhere.example/', [], lookup)).rejects.toThrow('ENOTFOUND');
  });

  it('resolves the name without a trailing dot', async () => {
    const lookup = vi.fn(resolvingTo('8.8.8.8'));
    await checkEgress('https://example.com./', [], lookup);
    expect(lookup).toHaveBeenCalledWith('example.com', { all: true });
  });
});
