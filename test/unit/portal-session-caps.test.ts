import { describe, expect, it } from 'vitest';
import { ENV } from '../../core/env-names';
import { loadPortalSessionCaps, portalSessionCapsEnv, sessionCapOf } from '../../core/portal-session-caps';

describe('portal session caps', () => {
  it('gives each host its own cap and every other host the default', () => {
    const caps = loadPortalSessionCaps({ [ENV.portalMaxSessions]: '3', [ENV.portalMaxSessionsByHost]: 'portal.example.com=6, legacy.example.org:8443=1' });

    expect(caps).toEqual({ default: 3, byHost: { 'portal.example.com': 6, 'legacy.example.org:8443': 1 } });
    expect(sessionCapOf(caps, 'portal.example.com')).toBe(6);
    expect(sessionCapOf(caps, 'Portal.Example.com')).toBe(6);
    expect(sessionCapOf(caps, 'legacy.example.org:8443')).toBe(1);
    // Another port is another portal.
    expect(sessionCapOf(caps, 'legacy.example.org')).toBe(3);
  });

  it('defaults to 2 sessions per host with no overrides', () => {
    expect(loadPortalSessionCaps({})).toEqual({ default: 2, byHost: {} });
  });

  it('reads back what the stage config writes', () => {
    const caps = { default: 4, byHost: { 'a.example.com': 1, '127.0.0.1:4006': 8 } };
    expect(loadPortalSessionCaps(portalSessionCapsEnv(caps))).toEqual(caps);
    expect(portalSessionCapsEnv({ default: 2, byHost: {} })).toEqual({ [ENV.portalMaxSessions]: '2' });
  });

  it.each([
    ['a URL instead of a host', 'https://portal.example.com=2'],
    ['an upper-case host', 'Portal.example.com=2'],
    ['no count', 'portal.example.com'],
    ['a count of zero', 'portal.example.com=0'],
    ['a count above the bound', 'portal.example.com=101'],
    ['a fraction', 'portal.example.com=1.5'],
    ['two equals signs', 'portal.example.com=2=3'],
    ['a host named twice', 'portal.example.com=2,portal.example.com=3'],
  ])('refuses %s at start', (_case, raw) => {
    expect(() => loadPortalSessionCaps({ [ENV.portalMaxSessionsByHost]: raw })).toThrow(ENV.portalMaxSessionsByHost);
  });

  it('refuses a default above the bound', () => {
    expect(() => loadPortalSessionCaps({ [ENV.portalMaxSessions]: '500' })).toThrow(ENV.portalMaxSessions);
  });
});
