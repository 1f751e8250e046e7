import { deliverJobWebhook } from '../../core/webhooks';
import type { NotifyWebhookInput } from '../../core/workflow-contract';
import { itemStoreFromEnv, jobStoreFromEnv, webhookSecretStoreFromEnv, webhookSenderFromEnv } from '../shared/adapters';
import { logger, withObservability } from '../shared/observability';

const deps = { jobs: jobStoreFromEnv(), items: itemStoreFromEnv(), secrets: webhookSecretStoreFromEnv(), sender: webhookSenderFromEnv() };

/**
 * NotifyWebhook step: one attempt to POST the job.finished webhook. A failed attempt throws
 * Webhook.DeliveryFailed, which the workflow retries with backoff; the job's status never changes.
 * The callbackUrl is not logged: it may carry the receiver's own token.
 */
export const handler = withObservability(async (input: NotifyWebhookInput) => {
  logger.appendKeys({ jobId: input.jobId });
  try {
    const delivery = await deliverJobWebhook(deps, input);
    logger.info('webhook settled', { webhook: delivery });
    return { jobId: input.jobId, webhook: delivery?.status ?? 'NONE' };
  } catch (error) {
    logger.warn('webhook attempt failed', { error: error as Error });
    throw error;
  }
});
