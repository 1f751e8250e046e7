import { toWebhookSecretView, webhookSecretsOf } from '../../core/webhook-secrets';
import { webhookSecretStoreFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json } from '../shared/http';

const store = webhookSecretStoreFromEnv();

/** GET /webhook-secret — the secret that signs the caller's webhooks (created on first use). */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  return json(200, toWebhookSecretView(await webhookSecretsOf(store, caller.sub)));
});
