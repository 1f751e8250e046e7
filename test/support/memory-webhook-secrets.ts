import type { WebhookSecrets, WebhookSecretStore } from '../../core/webhook-secrets';

/** In-memory webhook secret store with the same conditional put as the DynamoDB adapter. */
export class MemoryWebhookSecretStore implements WebhookSecretStore {
  readonly secrets = new Map<string, WebhookSecrets>();

  async get(owner: string) {
    return this.secrets.get(owner);
  }

  async put(owner: string, secrets: WebhookSecrets, expectedCurrent?: string) {
    if (this.secrets.get(owner)?.current !== expectedCurrent) return false;
    this.secrets.set(owner, secrets);
    return true;
  }
}
