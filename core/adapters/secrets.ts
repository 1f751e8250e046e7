import { GetSecretValueCommand, ResourceNotFoundException, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretSource } from '../secrets';

/** Robot secrets from AWS Secrets Manager (locally its emulation, via AWS_ENDPOINT_URL_SECRETS_MANAGER). */
export class SecretsManagerSource implements SecretSource {
  constructor(private readonly client: SecretsManagerClient) {}

  async get(name: string): Promise<string | undefined> {
    try {
      const { SecretString, SecretBinary } = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      return SecretString ?? (SecretBinary ? Buffer.from(SecretBinary).toString('utf8') : undefined);
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }
}
