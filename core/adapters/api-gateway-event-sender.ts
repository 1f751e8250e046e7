import { ApiGatewayManagementApiClient, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type { EventSender } from '../job-events';

/** Frames to WebSocket API connections through the API's management endpoint (PostToConnection). */
export class ApiGatewayEventSender implements EventSender {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async send(connectionId: string, frame: string): Promise<'sent' | 'gone'> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(frame) }));
      return 'sent';
    } catch (error) {
      // 410: the client went away without API Gateway's $disconnect reaching us yet.
      if (error instanceof GoneException) return 'gone';
      throw error;
    }
  }
}
