import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  TagResourceCommand,
  type SecretsManagerClient,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import type { CredentialMetadata, CredentialStore } from '../credentials';
import type { BoundSecret, SecretSource } from '../secrets';

/**
 * Portal credentials in AWS Secrets Manager (locally its emulation, via AWS_ENDPOINT_URL_SECRETS_MANAGER).
 * The value is the secret's string; the hosts it is bound to are one tag, so that the API reads
 * and writes bindings with DescribeSecret/TagResource and never needs GetSecretValue.
 */
export const HOSTS_TAG = 'roboport:hosts';

const hostsOf = (tags: Tag[] | undefined): string[] => tags?.find((tag) => tag.Key === HOSTS_TAG)?.Value?.split(' ').filter(Boolean) ?? [];
const hostsTag = (hosts: readonly string[]): Tag => ({ Key: HOSTS_TAG, Value: hosts.join(' ') });

/** Binds an existing secret to `hosts` (replacing its binding). */
export async function bindSecretToHosts(client: SecretsManagerClient, secretName: string, hosts: readonly string[]): Promise<void> {
  await client.send(new TagResourceCommand({ SecretId: secretName, Tags: [hostsTag(hosts)] }));
}

/** The robot runtime's side: value and binding. */
export class SecretsManagerSource implements SecretSource {
  constructor(private readonly client: SecretsManagerClient) {}

  async read(name: string): Promise<BoundSecret | undefined> {
    try {
      const [{ SecretString, SecretBinary }, { Tags }] = await Promise.all([
        this.client.send(new GetSecretValueCommand({ SecretId: name })),
        this.client.send(new DescribeSecretCommand({ SecretId: name })),
      ]);
      const value = SecretString ?? (SecretBinary ? Buffer.from(SecretBinary).toString('utf8') : undefined);
      return value === undefined ? undefined : { value, hosts: hostsOf(Tags) };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }
}

/** The API's side: write values, read metadata. */
export class SecretsManagerCredentialStore implements CredentialStore {
  constructor(private readonly client: SecretsManagerClient) {}

  async put(secretName: string, value: string, hosts: readonly string[]): Promise<boolean> {
    try {
      await this.client.send(new PutSecretValueCommand({ SecretId: secretName, SecretString: value }));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      await this.client.send(new CreateSecretCommand({ Name: secretName, SecretString: value, Tags: [hostsTag(hosts)] }));
      return true;
    }
    await bindSecretToHosts(this.client, secretName, hosts);
    return false;
  }

  async describe(secretName: string): Promise<CredentialMetadata | undefined> {
    try {
      const { Name, Tags, LastChangedDate, CreatedDate, DeletedDate } = await this.client.send(new DescribeSecretCommand({ SecretId: secretName }));
      // A secret scheduled for deletion (deleted outside Roboport with a recovery window) is gone for us.
      if (DeletedDate || Name !== secretName) return undefined;
      return { secretName, hosts: hostsOf(Tags), updatedAt: (LastChangedDate ?? CreatedDate ?? new Date()).toISOString() };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async list(folder: string): Promise<CredentialMetadata[]> {
    const found: CredentialMetadata[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [folder] }], MaxResults: 100, NextToken }));
      for (const secret of page.SecretList ?? []) {
        // The name filter matches prefixes: a folder "u1/" must not list "u1/x/y" either.
        if (!secret.Name?.startsWith(folder) || secret.Name.slice(folder.length).includes('/') || secret.DeletedDate) continue;
        found.push({ secretName: secret.Name, hosts: hostsOf(secret.Tags), updatedAt: (secret.LastChangedDate ?? secret.CreatedDate ?? new Date()).toISOString() });
      }
      NextToken = page.NextToken;
    } while (NextToken);
    return found.sort((a, b) => a.secretName.localeCompare(b.secretName));
  }

  async delete(secretName: string): Promise<boolean> {
    if (!(await this.describe(secretName))) return false;
    // At once: a recovery window would keep the name taken, and a client deleting a password means it.
    await this.client.send(new DeleteSecretCommand({ SecretId: secretName, ForceDeleteWithoutRecovery: true }));
    return true;
  }
}
