import type { Locator } from 'playwright-core';
import * as z from 'zod';
import { resolveCredentialRef } from '../core/credentials';
import { businessError, technicalError, type PortalCredentials } from '../core/robot';
import { secretValuesToMask, type SecretSource } from '../core/secrets';
import { servedHostsOf } from './egress-route';

/** A credential's value: the username, the password and any extra string fields. */
const credentialValueSchema = z.record(z.string(), z.string()).refine((value) => typeof value.username === 'string' && value.username !== '', {
  message: 'needs a username',
});

interface ReaderDeps {
  secrets: SecretSource;
  /** Robots read only secrets whose names start with this; none when undefined. */
  secretsPrefix: string | undefined;
}

/**
 * `RobotContext.credentials` for a job of `owner`: resolves the reference exactly as the submit
 * check did (core/credentials.ts), reads value and binding once per job, and adds every value
 * but the username to `secretValues` (masked in logs, removed from evidence).
 */
export function credentialsReader(deps: ReaderDeps, owner: string, secretValues: Set<string>): (ref: string) => Promise<PortalCredentials> {
  const read = new Map<string, Promise<PortalCredentials>>();
  const load = async (ref: string): Promise<PortalCredentials> => {
    if (!deps.secretsPrefix) throw businessError('SECRET_NOT_ALLOWED', 'This worker gives robots no secrets (no secrets prefix configured)');
    const resolved = resolveCredentialRef(ref, deps.secretsPrefix, owner);
    if ('violation' in resolved) throw businessError('SECRET_NOT_ALLOWED', `Credentials "${ref.slice(0, 200)}" ${resolved.violation}`);
    let secret;
    try {
      secret = await deps.secrets.read(resolved.secretName);
    } catch (error) {
      throw technicalError('SECRET_UNAVAILABLE', `Credentials ${ref} could not be read: ${error instanceof Error ? error.name : 'error'}`);
    }
    if (!secret) throw businessError('SECRET_NOT_FOUND', `There are no credentials ${ref}`);
    for (const part of secretValuesToMask(secret.value)) secretValues.add(part);
    const value = credentialValueSchema.safeParse(parseJson(secret.value));
    if (!value.success) throw businessError('CREDENTIALS_INVALID', `Credentials ${ref} must hold {"username","password"}`);
    const { hosts } = secret;
    return {
      username: value.data.username!,
      fill: async (target, field) => {
        const fieldValue = value.data[field];
        if (fieldValue === undefined) throw businessError('CREDENTIALS_INVALID', `Credentials ${ref} have no field "${field}"`);
        await fillOnBoundHost(target, fieldValue, hosts, ref);
      },
    };
  };
  return (ref) => {
    let credentials = read.get(ref);
    if (!credentials) {
      credentials = load(ref);
      // A failed read is not remembered: the next call tries again.
      credentials.catch(() => read.delete(ref));
      read.set(ref, credentials);
    }
    return credentials;
  };
}

/**
 * The host check and the typing happen in one turn of the page's own script, in the frame that
 * holds the field: a navigation (a redirect to a look-alike site) cannot come between them. The
 * value is set through the element's native setter plus input/change events, as typing would,
 * so that frameworks that track the value see it.
 */
async function fillOnBoundHost(target: Locator, value: string, hosts: readonly string[], ref: string): Promise<void> {
  const refusedHost = await target.evaluate(
    (element, bound) => {
      // A document that arrived through a redirect the egress guard followed names its first host; it came from this one.
      const host = bound.servedHosts[location.href] ?? location.host;
      if (!bound.hosts.includes(host)) return host || location.href.slice(0, 100);
      const input = element as HTMLInputElement;
      input.focus();
      const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(input), 'value')?.set;
      if (setter) setter.call(input, bound.value);
      else input.value = bound.value;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      input.dispatchEvent(new Event('change', { bubbles: true }));
      return undefined;
    },
    { value, hosts: [...hosts], servedHosts: servedHostsOf(target.page().context()) },
  );
  if (refusedHost !== undefined) {
    throw businessError('CREDENTIALS_HOST_MISMATCH', `Credentials ${ref} are bound to ${hosts.join(', ') || 'no host'}; the page asking for them is on ${refusedHost}`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
