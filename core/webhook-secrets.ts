import { randomBytes } from 'node:crypto';
import { ServiceUnavailable } from './errors';

/**
 * Each owner has one webhook signing secret, created on first use (GET /webhook-secret or the
 * first webhook) and replaced by POST /webhook-secret/rotate. After a rotation the previous
 * secret keeps signing too, for ROTATION_GRACE_SECONDS, so receivers can switch without gaps.
 */
export interface WebhookSecrets {
  current: string;
  createdAt: string;
  previous?: string;
  rotatedAt?: string;
}

/** Owner → secrets (the accounts table). */
export interface WebhookSecretStore {
  get(owner: string): Promise<WebhookSecrets | undefined>;
  /**
   * Writes `secrets` if the owner has none yet (`expectedCurrent` undefined) or if their current
   * secret is still `expectedCurrent` (rotation); false when another writer came first.
   */
  put(owner: string, secrets: WebhookSecrets, expectedCurrent?: string): Promise<boolean>;
}

export const ROTATION_GRACE_SECONDS = 24 * 3600;

/** 32 random bytes; the prefix makes a leaked secret easy to recognise (and to scan for). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

export async function webhookSecretsOf(store: WebhookSecretStore, owner: string, now = new Date()): Promise<WebhookSecrets> {
  const existing = await store.get(owner);
  if (existing) return existing;
  const created: WebhookSecrets = { current: newWebhookSecret(), createdAt: now.toISOString() };
  if (await store.put(owner, created)) return created;
  return currentOrUnavailable(store, owner);
}

export async function rotateWebhookSecret(store: WebhookSecretStore, owner: string, now = new Date()): Promise<WebhookSecrets> {
  const { current, createdAt } = await webhookSecretsOf(store, owner, now);
  const rotated: WebhookSecrets = { current: newWebhookSecret(), createdAt, previous: current, rotatedAt: now.toISOString() };
  if (await store.put(owner, rotated, current)) return rotated;
  // Rotated concurrently: every caller gets the newest secret.
  return currentOrUnavailable(store, owner);
}

/** The secrets that sign a webhook now: the current one, and the previous one during the grace period. */
export function signingSecrets(secrets: WebhookSecrets, now = new Date()): string[] {
  const { current, previous, rotatedAt } = secrets;
  const inGrace = rotatedAt !== undefined && now.getTime() - Date.parse(rotatedAt) < ROTATION_GRACE_SECONDS * 1000;
  return previous && inGrace ? [current, previous] : [current];
}

/** What GET /webhook-secret and POST /webhook-secret/rotate answer: the previous secret is never shown again. */
export function toWebhookSecretView(secrets: WebhookSecrets, now = new Date()): { secret: string; createdAt: string; previousSecretValidUntil?: string } {
  const previousValidUntil = secrets.rotatedAt && new Date(Date.parse(secrets.rotatedAt) + ROTATION_GRACE_SECONDS * 1000);
  return {
    secret: secrets.current,
    createdAt: secrets.createdAt,
    ...(previousValidUntil && previousValidUntil > now ? { previousSecretValidUntil: previousValidUntil.toISOString() } : {}),
  };
}

async function currentOrUnavailable(store: WebhookSecretStore, owner: string): Promise<WebhookSecrets> {
  const current = await store.get(owner);
  if (!current) throw new ServiceUnavailable('The webhook secret changed concurrently; retry the request');
  return current;
}
