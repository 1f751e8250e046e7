/**
 * Secrets robots read by name (portal credentials). They live in a secret store (AWS Secrets
 * Manager), never in job input, and a robot may only read names under the worker's prefix.
 */
export interface SecretSource {
  /** The secret's string value and the hosts it is bound to; undefined when no secret has this name. */
  read(name: string): Promise<BoundSecret | undefined>;
}

export interface BoundSecret {
  value: string;
  /** host[:port] the value may be typed into; empty for a secret created without a binding. */
  hosts: string[];
}

/** Secrets Manager's character set for names. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/** Folder under the prefix for portal accounts the platform shares with every tenant. */
export const SHARED_SECRETS_FOLDER = 'shared';

/**
 * Why a job of `owner` may not read this secret, or undefined when it may: only secrets under
 * `<prefix><owner>/` (the tenant's own) or `<prefix>shared/`, so no tenant reads another's logins.
 */
export function secretNameViolation(name: string, prefix: string | undefined, owner: string): string | undefined {
  if (!prefix) return 'this worker gives robots no secrets (no secrets prefix configured)';
  if (!SECRET_NAME.test(name)) return 'is not a valid secret name';
  if (name.split('/').includes('..')) return 'must not contain ".." segments';
  const folders = [`${prefix}${owner}/`, `${prefix}${SHARED_SECRETS_FOLDER}/`];
  if (!folders.some((folder) => name.startsWith(folder) && name.length > folder.length)) return `must name a secret under ${folders.join(' or ')}`;
  return undefined;
}

/** Fields of a JSON secret that name someone rather than prove it: masking "robot" everywhere helps nobody. */
const IDENTITY_FIELD = /^(user(name)?|login|email|account)$/i;

/**
 * The strings a log line must never show once a secret is read: the whole value and, for a
 * JSON object such as {"username","password"}, each string field except the identity ones.
 */
export function secretValuesToMask(value: string): string[] {
  const values = [value];
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === 'object') {
      for (const [field, fieldValue] of Object.entries(parsed)) if (typeof fieldValue === 'string' && !IDENTITY_FIELD.test(field)) values.push(fieldValue);
    }
  } catch {
    // a plain string secret: the value itself is all there is to mask
  }
  return values;
}
