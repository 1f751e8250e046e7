import { ENV } from './env-names';
import { intEnv } from './config';

/**
 * How many sessions all robot runtimes together may open against one portal host: a stage-wide
 * default and per-host overrides (a portal that allows more, or one that must be spared). Set per
 * stage (lib/config.ts `portalSessions`), handed to the runtimes as two environment variables.
 */
export interface PortalSessionCaps {
  readonly default: number;
  /** Keys are URL hosts as the robot's portal URL names them: lower-case host[:port]. */
  readonly byHost: Readonly<Record<string, number>>;
}

/** More sessions than this against one host is a misconfiguration, not a portal's allowance. */
export const MAX_PORTAL_SESSIONS = 100;
/** A URL host: lower-case name or address, optional port. */
export const PORTAL_HOST_PATTERN = /^[a-z0-9.-]+(:\d{1,5})?$/;

/** The cap of `host` (a URL's `host`: name and port). */
export function sessionCapOf(caps: PortalSessionCaps, host: string): number {
  return caps.byHost[host.toLowerCase()] ?? caps.default;
}

/** The environment of a runtime that enforces `caps` (read back by loadPortalSessionCaps). */
export function portalSessionCapsEnv(caps: PortalSessionCaps): Record<string, string> {
  const overrides = Object.entries(caps.byHost).map(([host, sessions]) => `${host}=${sessions}`);
  return { [ENV.portalMaxSessions]: String(caps.default), ...(overrides.length ? { [ENV.portalMaxSessionsByHost]: overrides.join(',') } : {}) };
}

/**
 * Reads PORTAL_MAX_SESSIONS (default 2) and PORTAL_MAX_SESSIONS_BY_HOST (`host=N,host:port=M`),
 * once at start: a malformed entry stops the runtime before it takes any job.
 */
export function loadPortalSessionCaps(env: NodeJS.ProcessEnv = process.env): PortalSessionCaps {
  const byHost: Record<string, number> = {};
  for (const entry of (env[ENV.portalMaxSessionsByHost] ?? '').split(',').map((part) => part.trim()).filter(Boolean)) {
    const [host = '', sessions = '', ...rest] = entry.split('=').map((part) => part.trim());
    const count = Number(sessions);
    if (rest.length > 0 || !PORTAL_HOST_PATTERN.test(host) || !Number.isInteger(count) || count < 1 || count > MAX_PORTAL_SESSIONS) {
      throw new Error(`Environment variable ${ENV.portalMaxSessionsByHost}: "${entry}" must be host[:port]=N (lower-case host, N from 1 to ${MAX_PORTAL_SESSIONS})`);
    }
    if (host in byHost) throw new Error(`Environment variable ${ENV.portalMaxSessionsByHost} names ${host} twice`);
    byHost[host] = count;
  }
  const fallback = intEnv(ENV.portalMaxSessions, 2, env);
  if (fallback > MAX_PORTAL_SESSIONS) throw new Error(`Environment variable ${ENV.portalMaxSessions} must be at most ${MAX_PORTAL_SESSIONS}, got ${fallback}`);
  return { default: fallback, byHost };
}
