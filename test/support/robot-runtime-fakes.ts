import type { S3Client } from '@aws-sdk/client-s3';
import type { PortalLease, PortalLeaseStore } from '../../core/portal-lease';
import type { SecretSource } from '../../core/secrets';

/**
 * Small fakes for the robot runtime's ports: the artifact store, secrets and portal slots, with
 * the rules of the real adapters (slots taken when free, expired or already the holder's).
 */
export class MemoryArtifactStore {
  readonly objects = new Map<string, { contentType: string; body: Buffer }>();
  /** Puts of each key, to prove a file was never written twice. */
  readonly puts = new Map<string, number>();

  /** Just enough of an S3Client for PutObjectCommand. */
  readonly client = {
    send: async (command: { input: { Key?: string; Body?: unknown; ContentType?: string } }) => {
      const key = command.input.Key ?? '';
      this.objects.set(key, { contentType: command.input.ContentType ?? '', body: Buffer.from(command.input.Body as Uint8Array) });
      this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
      return {};
    },
  } as unknown as S3Client;

  text(key: string): string {
    const object = this.objects.get(key);
    if (!object) throw new Error(`no object ${key}; have ${[...this.objects.keys()].join(', ')}`);
    return object.body.toString('utf8');
  }
}

export class MemorySecrets implements SecretSource {
  readonly reads: string[] = [];
  constructor(private readonly values: Record<string, string>) {}

  async get(name: string): Promise<string | undefined> {
    this.reads.push(name);
    return this.values[name];
  }
}

export class MemoryPortalLeases implements PortalLeaseStore {
  /** `host#slot` → holder and expiry (epoch seconds). */
  readonly slots = new Map<string, { holder: string; expiresAt: number }>();
  renewals = 0;

  async tryAcquire(host: string, holder: string, slots: number, ttlSeconds: number, nowSeconds: number): Promise<PortalLease | undefined> {
    for (let slot = 0; slot < slots; slot++) {
      const current = this.slots.get(`${host}#${slot}`);
      if (!current || current.expiresAt < nowSeconds || current.holder === holder) {
        this.slots.set(`${host}#${slot}`, { holder, expiresAt: nowSeconds + ttlSeconds });
        return { host, slot, holder };
      }
    }
    return undefined;
  }

  async renew(lease: PortalLease, ttlSeconds: number, nowSeconds: number): Promise<boolean> {
    const current = this.slots.get(`${lease.host}#${lease.slot}`);
    if (current?.holder !== lease.holder) return false;
    current.expiresAt = nowSeconds + ttlSeconds;
    this.renewals++;
    return true;
  }

  async release(lease: PortalLease): Promise<void> {
    if (this.slots.get(`${lease.host}#${lease.slot}`)?.holder === lease.holder) this.slots.delete(`${lease.host}#${lease.slot}`);
  }

  holders(host: string): string[] {
    return [...this.slots].filter(([key]) => key.startsWith(`${host}#`)).map(([, { holder }]) => holder);
  }
}
