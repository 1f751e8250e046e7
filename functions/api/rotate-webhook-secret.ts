import { rotateWebhookSecret, toWebhookSecretView } from '../../core/webhook-secrets';
import { webhookSecretStoreFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json } from '../shared/http';

const store = webhookSecretStoreFromEnv();

/** POST /webhook-secret/rotate — a new secret; the previous one keeps signing for a grace period. */
export const handler = apiHandler(async (event) => {
  const caller = callerOf(event);
  return json(200, toWebhookSecretView(await rotateWebhookSecret(store, caller.sub)));
});
