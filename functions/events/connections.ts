import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoConnectionStore } from '../../core/adapters/dynamo-connection-store';
import { requireEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { clientMessageSchema, subscriptionJobIdSchema } from '../../core/job-events';
import { logger, withObservability } from '../shared/observability';

const connections = new DynamoConnectionStore(new DynamoDBClient({}), requireEnv(ENV.eventConnectionsTable));
/** API Gateway closes a WebSocket connection after two hours; the item outlives it by an hour at most. */
const CONNECTION_TTL_SECONDS = 3 * 3600;

/** The parts of a WebSocket route event this handler reads. */
export interface WebSocketRouteEvent {
  requestContext: { routeKey: string; connectionId: string; authorizer?: Record<string, unknown> | null };
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
}

const ok = { statusCode: 200 } as const;

/**
 * The WebSocket API's routes: $connect records the connection with the caller its authorizer
 * verified (and the job it follows, `?jobId=`), $disconnect forgets it, $default takes the client's
 * messages: `{"action":"subscribe","jobId"?}` or `{"action":"ping"}` (keeps an idle connection open).
 */
export const handler = withObservability(async (event: WebSocketRouteEvent): Promise<{ statusCode: number; body?: string }> => {
  const { routeKey, connectionId } = event.requestContext;
  switch (routeKey) {
    case '$connect': {
      const authorizer = event.requestContext.authorizer ?? {};
      const sub = authorizer.sub;
      if (typeof sub !== 'string' || sub === '') return { statusCode: 401 };
      const jobId = subscriptionJobIdSchema.safeParse(event.queryStringParameters?.jobId ?? undefined);
      if (!jobId.success) return { statusCode: 400 };
      const caller = { sub, isAdmin: authorizer.isAdmin === true || authorizer.isAdmin === 'true' };
      await connections.add({ connectionId, caller, ...(jobId.data ? { jobId: jobId.data } : {}) }, Math.floor(Date.now() / 1000) + CONNECTION_TTL_SECONDS);
      return ok;
    }
    case '$disconnect':
      await connections.remove(connectionId);
      return ok;
    default: {
      const message = clientMessageSchema.safeParse(parseJson(event.body));
      if (!message.success) {
        logger.info('events message ignored', { connectionId });
        return { statusCode: 400 };
      }
      if (message.data.action === 'subscribe') await connections.subscribe(connectionId, message.data.jobId);
      return ok;
    }
  }
});

function parseJson(text: string | null | undefined): unknown {
  try {
    return JSON.parse(text ?? '') as unknown;
  } catch {
    return undefined;
  }
}
