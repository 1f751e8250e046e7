import * as z from 'zod';
import { ForbiddenAction, InputInvalid, SecretNotFound } from './errors';
import type { Caller } from './job';
import { parseOrThrow } from './validation';
import { SHARED_SECRETS_FOLDER, secretNameViolation } from './secrets';

/**
 * Portal credentials as a resource of their owner: write-only values (`{username, password, ...}`)
 * bound to the portal hosts they may be typed into. Clients set and delete them, and read their
 * metadata only; the robot runtime reads the value and the binding, and types a value only into a
 * page served by one of the bound hosts (robot-runtime.ts). Admins manage the shared ones.
 *
 * A credential's reference (what a job's input names): `name` for the caller's own,
 * `shared/name` for a shared one, or the full secret name under the robot-secrets prefix.
 */
export interface CredentialMetadata {
  /** The full secret name; never shown to clients, who see `name` and `scope`. */
  secretName: string;
  hosts: string[];
  updatedAt: string;
}

export interface CredentialView {
  name: string;
  scope: CredentialScope;
  /** How a job's input names it, e.g. "acme-portal" or "shared/freight-portal". */
  ref: string;
  hosts: string[];
  updatedAt: string;
}

export type CredentialScope = 'own' | 'shared';

/** Where credentials live (Secrets Manager): values are written, never read back, here. */
export interface CredentialStore {
  /** Creates or replaces the value and its binding; true when it was created. */
  put(secretName: string, value: string, hosts: readonly string[]): Promise<boolean>;
  describe(secretName: string): Promise<CredentialMetadata | undefined>;
  /** Every credential whose secret name starts with `folder`. */
  list(folder: string): Promise<CredentialMetadata[]>;
  /** false when there was nothing to delete. */
  delete(secretName: string): Promise<boolean>;
}

export interface CredentialDeps {
  store: CredentialStore;
  /** The stage's robot-secrets prefix (e.g. roboport/prod/robots/). */
  prefix: string;
}

/** A short name: what a client calls its credential. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** A credential's name as a path parameter (PUT/GET/DELETE /secrets/{name}). */
export const credentialNameSchema = z.string().regex(NAME);
/** Secrets Manager tag values hold at most 256 characters; the binding is one tag (see the adapter). */
export const MAX_BOUND_HOSTS = 8;
const MAX_OWN_CREDENTIALS = 50;

const hostSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/, 'must be a host name, optionally with :port, such as portal.carrier.example')
  .max(253);

export const credentialBodySchema = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  hosts: z
    .array(hostSchema)
    .min(1, 'name at least one portal host the credentials may be typed into')
    .max(MAX_BOUND_HOSTS)
    .transform((hosts) => [...new Set(hosts)]),
  /** Further values a robot may type (an account number, a one-time PIN), masked like the password. */
  fields: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must be a field name'), z.string().max(1024)).optional(),
});

export const scopeSchema = z.enum(['own', 'shared']).default('own');

/** The full secret name of the caller's (or the shared) credential called `name`. */
function secretNameOf(deps: CredentialDeps, owner: string, scope: CredentialScope, name: string): string {
  return `${deps.prefix}${scope === 'shared' ? SHARED_SECRETS_FOLDER : owner}/${name}`;
}

/**
 * The full secret name a job of `owner` means by `ref`, or why it may not use it. Used at submit
 * and again by the runtime, so that both read exactly the same secret.
 */
export function resolveCredentialRef(ref: string, prefix: string, owner: string): { secretName: string } | { violation: string } {
  if (ref.startsWith(prefix)) {
    const violation = secretNameViolation(ref, prefix, owner);
    return violation ? { violation } : { secretName: ref };
  }
  const [first, second, ...rest] = ref.split('/');
  if (second === undefined && NAME.test(ref)) return { secretName: `${prefix}${owner}/${ref}` };
  if (first === SHARED_SECRETS_FOLDER && second !== undefined && rest.length === 0 && NAME.test(second)) return { secretName: `${prefix}${ref}` };
  return { violation: `must be a credentials name ("name" or "${SHARED_SECRETS_FOLDER}/name")` };
}

function parseTarget(caller: Caller, name: string, query: Record<string, string | undefined>, writing: boolean): { scope: CredentialScope; name: string } {
  if (!NAME.test(name)) {
    throw new InputInvalid('Credential name is invalid', { fields: [{ field: 'name', message: 'must be 1-100 characters of A-Z a-z 0-9 . _ - starting with a letter or digit' }] });
  }
  const scope = parseOrThrow(scopeSchema, query.scope, 'Query parameters are invalid', 'scope');
  if (scope === 'shared' && writing && !caller.isAdmin) throw new ForbiddenAction('Only admins manage shared credentials');
  return { scope, name };
}

function toView(metadata: CredentialMetadata, name: string, scope: CredentialScope): CredentialView {
  return { name, scope, ref: scope === 'shared' ? `${SHARED_SECRETS_FOLDER}/${name}` : name, hosts: metadata.hosts, updatedAt: metadata.updatedAt };
}

/** PUT /secrets/{name}: creates or rotates; the answer never holds the value. */
export async function putCredential(
  deps: CredentialDeps,
  caller: Caller,
  name: string,
  query: Record<string, string | undefined>,
  body: unknown,
): Promise<{ credential: CredentialView; created: boolean }> {
  const target = parseTarget(caller, name, query, true);
  const { hosts, fields, username, password } = parseOrThrow(credentialBodySchema, body, 'Credentials are invalid');
  const secretName = secretNameOf(deps, caller.sub, target.scope, target.name);
  if (target.scope === 'own' && !(await deps.store.describe(secretName))) {
    // Counted, not reserved: two concurrent creates may pass one over, which only softens a quota.
    if ((await deps.store.list(secretNameOf(deps, caller.sub, 'own', ''))).length >= MAX_OWN_CREDENTIALS) {
      throw new InputInvalid(`At most ${MAX_OWN_CREDENTIALS} credentials per owner`, { fields: [{ field: 'name', message: 'delete one first' }] });
    }
  }
  const created = await deps.store.put(secretName, JSON.stringify({ ...fields, username, password }), hosts);
  const metadata = (await deps.store.describe(secretName)) ?? { secretName, hosts, updatedAt: new Date().toISOString() };
  return { credential: toView(metadata, target.name, target.scope), created };
}

/** GET /secrets: the caller's own credentials and the shared ones, metadata only. */
export async function listCredentials(deps: CredentialDeps, caller: Caller): Promise<{ secrets: CredentialView[] }> {
  const listed = async (scope: CredentialScope) => {
    const folder = secretNameOf(deps, caller.sub, scope, '');
    return (await deps.store.list(folder)).map((metadata) => toView(metadata, metadata.secretName.slice(folder.length), scope));
  };
  return { secrets: [...(await listed('own')), ...(await listed('shared'))] };
}

export async function getCredential(deps: CredentialDeps, caller: Caller, name: string, query: Record<string, string | undefined>): Promise<CredentialView> {
  const target = parseTarget(caller, name, query, false);
  const metadata = await deps.store.describe(secretNameOf(deps, caller.sub, target.scope, target.name));
  if (!metadata) throw new SecretNotFound(target.name);
  return toView(metadata, target.name, target.scope);
}

export async function deleteCredential(deps: CredentialDeps, caller: Caller, name: string, query: Record<string, string | undefined>): Promise<void> {
  const target = parseTarget(caller, name, query, true);
  if (!(await deps.store.delete(secretNameOf(deps, caller.sub, target.scope, target.name)))) throw new SecretNotFound(target.name);
}

/** A credential a job will type into a portal: the input field naming it and the portal's URL. */
export interface CredentialUse {
  field: string;
  ref: string;
  url: string;
}

/**
 * At submit: every credential the job names must exist, be the owner's or shared, and be bound to
 * the host of the portal the job visits. Someone else's credential answers like a missing one.
 */
export async function checkCredentialUses(deps: CredentialDeps, owner: string, uses: readonly CredentialUse[]): Promise<void> {
  for (const use of uses) {
    const refused = (message: string) => new InputInvalid(`${use.field} cannot be used`, { fields: [{ field: use.field, message }] });
    const resolved = resolveCredentialRef(use.ref, deps.prefix, owner);
    if ('violation' in resolved) throw refused(resolved.violation);
    const metadata = await deps.store.describe(resolved.secretName);
    if (!metadata) throw refused(`there are no credentials "${use.ref}" (create them with PUT /secrets/{name})`);
    const host = new URL(use.url).host;
    if (!metadata.hosts.includes(host)) {
      throw refused(`the credentials "${use.ref}" are bound to ${metadata.hosts.join(', ') || 'no host'}, not to ${host}`);
    }
  }
}
