import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildClient, CommitmentPolicy, KmsKeyringNode, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, type KeyringNode } from '@aws-crypto/client-node';
import type { BrowserContext } from 'playwright-core';
import type { Logger } from '../core/logger';
import type { PortalSessionStore } from '../core/ports';
import { PORTAL_SESSION_PURPOSE } from '../core/table-schema';

/**
 * Portal session reuse: after a robot signs in, the browser context's storage state (cookies,
 * local storage) is kept per owner, portal host and credentials reference, so that later chunks,
 * retries and jobs of that owner start signed in instead of logging in again.
 *
 * A stored state is a live portal session: it is sealed with the AWS Encryption SDK (a KMS keyring
 * with the stage's key in AWS, a raw AES keyring with the local stack's key locally) under an
 * encryption context naming owner, host, credentials, version and expiry. The context is
 * authenticated with the blob and checked on every open, so a blob copied to another owner's
 * (or portal's, or credentials') row, or given a later expiry in the table, is refused.
 */
export type StorageState = Awaited<ReturnType<BrowserContext['storageState']>>;

/** Whose session it is: one per owner, portal host and credentials reference. */
export interface SessionScope {
  owner: string;
  /** host[:port] of the robot's portal URL, lower case. */
  host: string;
  /** The credentials reference the robot signs in with (its `sessionCredentials`). */
  credentialsRef: string;
}

/** Where the stage keeps its key: KMS in AWS, a file of the local stack's data directory locally. */
export type SessionKeySource = { kmsKeyArn: string } | { localKeyFile: string };

/** A restored session: the state to open the browser context with and its version (to discard it). */
export interface RestoredSession {
  state: StorageState;
  version: string;
}

/** DynamoDB items end at 400 KB; a larger state is not kept (the next attempt signs in). */
const MAX_BLOB_BYTES = 350_000;
const CONTEXT_KEYS = {
  purpose: PORTAL_SESSION_PURPOSE.contextKey,
  owner: 'roboport-owner',
  host: 'roboport-portal-host',
  credentials: 'roboport-credentials',
  version: 'roboport-version',
  expiresAt: 'roboport-expires-at',
} as const;

/** The store key: a digest, so that owner ids and credential names do not show in the table's keys. */
export function portalSessionKey(scope: SessionScope): string {
  return createHash('sha256').update(JSON.stringify(['v1', scope.owner, scope.host.toLowerCase(), scope.credentialsRef])).digest('base64url');
}

/** The keyring of the stage's key. The local key file holds 32 random bytes in base64. */
export function sessionKeyring(source: SessionKeySource): KeyringNode {
  if ('kmsKeyArn' in source) return new KmsKeyringNode({ generatorKeyId: source.kmsKeyArn });
  const key = Buffer.from(readFileSync(source.localKeyFile, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`The portal session key in ${source.localKeyFile} is not 32 bytes`);
  return new RawAesKeyringNode({
    keyNamespace: 'roboport-local',
    keyName: 'portal-sessions',
    unencryptedMasterKey: new Uint8Array(key),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

// One data key per message, never more: a blob with extra encrypted data keys is refused.
const { encrypt, decrypt } = buildClient({ commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, maxEncryptedDataKeys: 1 });

export class PortalSessions {
  constructor(
    private readonly store: PortalSessionStore,
    private readonly keyring: KeyringNode,
    /** How long a kept session is used after its login (stage setting portalSessionTtlMinutes). */
    readonly ttlSeconds: number,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** The scope's stored session, when there is one, it opens with the scope's own context, and it has not expired. */
  async restoreSession(scope: SessionScope, log: Logger): Promise<RestoredSession | undefined> {
    let stored;
    try {
      stored = await this.store.get(portalSessionKey(scope));
    } catch (error) {
      // The store being out of reach costs a login, not the attempt.
      log.warn('portal-session.unavailable', { error: error instanceof Error ? error.name : 'error' });
      return undefined;
    }
    if (!stored) return undefined;
    try {
      const { plaintext, messageHeader } = await decrypt(this.keyring, stored.blob);
      const context = messageHeader.encryptionContext;
      const expected = encryptionContext(scope, stored.version, 0);
      const mismatch = Object.entries(expected).find(([name, value]) => name !== CONTEXT_KEYS.expiresAt && context[name] !== value);
      if (mismatch) {
        log.warn('portal-session.refused', { reason: `encryption context ${mismatch[0]} does not match` });
        return undefined;
      }
      // The authenticated expiry, not the table's attribute (which anyone with write access could move).
      if (Number(context[CONTEXT_KEYS.expiresAt]) * 1000 <= this.nowMs()) return undefined;
      return { state: JSON.parse(plaintext.toString('utf8')) as StorageState, version: stored.version };
    } catch (error) {
      log.warn('portal-session.refused', { reason: 'does not decrypt', error: error instanceof Error ? error.name : 'error' });
      return undefined;
    }
  }

  /** Keeps the state of a context that just signed in; answers its version, or undefined when it was too large to keep. */
  async saveSession(scope: SessionScope, state: StorageState, log: Logger): Promise<string | undefined> {
    const version = randomUUID();
    const expiresAt = Math.floor(this.nowMs() / 1000) + this.ttlSeconds;
    const { result } = await encrypt(this.keyring, Buffer.from(JSON.stringify(state)), { encryptionContext: encryptionContext(scope, version, expiresAt) });
    if (result.byteLength > MAX_BLOB_BYTES) {
      log.warn('portal-session.not-kept', { reason: `the sealed state is ${result.byteLength} bytes` });
      return undefined;
    }
    await this.store.put({ key: portalSessionKey(scope), blob: result, expiresAt, version });
    return version;
  }

  /** Forgets an ended session; a newer one another attempt saved meanwhile stays. Without `version`: whatever is stored. */
  async discardSession(scope: SessionScope, version?: string): Promise<void> {
    const key = portalSessionKey(scope);
    const current = version ?? (await this.store.get(key))?.version;
    if (current) await this.store.delete(key, current);
  }
}

function encryptionContext(scope: SessionScope, version: string, expiresAt: number): Record<string, string> {
  return {
    [CONTEXT_KEYS.purpose]: PORTAL_SESSION_PURPOSE.value,
    [CONTEXT_KEYS.owner]: scope.owner,
    [CONTEXT_KEYS.host]: scope.host.toLowerCase(),
    [CONTEXT_KEYS.credentials]: scope.credentialsRef,
    [CONTEXT_KEYS.version]: version,
    [CONTEXT_KEYS.expiresAt]: String(expiresAt),
  };
}
