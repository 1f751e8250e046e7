import type { PortalSessionStore, StoredPortalSession } from '../../core/ports';

/** Kept portal sessions in memory, with the adapter's conditional delete. */
export class MemoryPortalSessionStore implements PortalSessionStore {
  readonly rows = new Map<string, StoredPortalSession>();

  async get(key: string): Promise<StoredPortalSession | undefined> {
    const row = this.rows.get(key);
    return row && { ...row, blob: new Uint8Array(row.blob) };
  }

  async put(session: StoredPortalSession): Promise<void> {
    this.rows.set(session.key, { ...session, blob: new Uint8Array(session.blob) });
  }

  async delete(key: string, version: string): Promise<void> {
    if (this.rows.get(key)?.version === version) this.rows.delete(key);
  }
}
