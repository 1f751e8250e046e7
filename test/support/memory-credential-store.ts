import type { CredentialMetadata, CredentialStore } from '../../core/credentials';

/** Credentials in memory, with their values kept so that tests can check what was written. */
export class MemoryCredentialStore implements CredentialStore {
  readonly values = new Map<string, string>();
  private readonly metadata = new Map<string, CredentialMetadata>();

  async put(secretName: string, value: string, hosts: readonly string[]): Promise<boolean> {
    const created = !this.metadata.has(secretName);
    this.values.set(secretName, value);
    this.metadata.set(secretName, { secretName, hosts: [...hosts], updatedAt: new Date().toISOString() });
    return created;
  }

  async describe(secretName: string): Promise<CredentialMetadata | undefined> {
    return this.metadata.get(secretName);
  }

  async list(folder: string): Promise<CredentialMetadata[]> {
    return [...this.metadata.values()].filter((entry) => entry.secretName.startsWith(folder) && !entry.secretName.slice(folder.length).includes('/'));
  }

  async delete(secretName: string): Promise<boolean> {
    this.values.delete(secretName);
    return this.metadata.delete(secretName);
  }
}

export const TEST_SECRETS_PREFIX = 'roboport/test/robots/';

export const testCredentialDeps = (store = new MemoryCredentialStore()) => ({ store, prefix: TEST_SECRETS_PREFIX });
