import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { ApiGatewayEventSender } from '../../core/adapters/api-gateway-event-sender';
import { DynamoConnectionStore } from '../../core/adapters/dynamo-connection-store';
import { fromItem } from '../../core/adapters/dynamo-job-store';
import { requireEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { fanOutJobEvent, type FanOutDeps } from '../../core/job-events';
import { logger, withObservability } from '../shared/observability';

const deps: FanOutDeps = {
  connections: new DynamoConnectionStore(new DynamoDBClient({}), requireEnv(ENV.eventConnectionsTable)),
  sender: new ApiGatewayEventSender(new ApiGatewayManagementApiClient({ endpoint: requireEnv(ENV.eventsManagementEndpoint) })),
  onSendError: (connectionId, error) => logger.warn('event not delivered', { connectionId, error: error instanceof Error ? error : String(error) }),
};

/**
 * The jobs table's stream (new images) → live job events. The writers of job state (API handlers,
 * workflow steps, the robot workers) write nothing extra: DynamoDB hands every write here, in order
 * per job. Records are sent one after the other, so a connection receives a job's frames in the
 * order of its writes; on a failure the batch is retried from the failed record on.
 */
export const handler = withObservability(async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  for (const record of event.Records) {
    const image = record.dynamodb?.NewImage;
    if (!image) continue;
    try {
      await fanOutJobEvent(deps, fromItem(unmarshall(image as Record<string, AttributeValue>)));
    } catch (error) {
      logger.error('job event fan-out failed', { error: error instanceof Error ? error : String(error) });
      return { batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }] };
    }
  }
  return { batchItemFailures: [] };
});
