import { DeleteItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { EventConnection, EventConnectionStore } from '../job-events';
import { EVENT_CONNECTIONS_TABLE } from '../table-schema';

const ADMIN_AUDIENCE = 'ADMIN';

/** Connections in DynamoDB (core/table-schema.ts EVENT_CONNECTIONS_TABLE): written at $connect, removed at $disconnect or when gone. */
export class DynamoConnectionStore implements EventConnectionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** `expiresAt` (epoch seconds): when the table's TTL may drop the item if $disconnect never comes. */
  async add(connection: EventConnection, expiresAt: number): Promise<void> {
    const { connectionId, caller, jobId } = connection;
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(
          { connectionId, owner: caller.sub, isAdmin: caller.isAdmin, ...(caller.isAdmin ? { audience: ADMIN_AUDIENCE } : {}), jobId, [EVENT_CONNECTIONS_TABLE.ttlAttribute]: expiresAt },
          { removeUndefinedValues: true },
        ),
      }),
    );
  }

  /** Follows one job, or every job again (undefined); a connection already gone is not recreated. */
  async subscribe(connectionId: string, jobId: string | undefined): Promise<void> {
    await this.client
      .send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ connectionId }),
          UpdateExpression: jobId ? 'SET jobId = :jobId' : 'REMOVE jobId',
          ConditionExpression: 'attribute_exists(connectionId)',
          ...(jobId ? { ExpressionAttributeValues: marshall({ ':jobId': jobId }) } : {}),
        }),
      )
      .catch((error: unknown) => {
        if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
      });
  }

  async audience(owner: string): Promise<EventConnection[]> {
    const [owners, admins] = await Promise.all([
      this.query(EVENT_CONNECTIONS_TABLE.byOwnerIndex, owner),
      this.query(EVENT_CONNECTIONS_TABLE.adminsIndex, ADMIN_AUDIENCE),
    ]);
    return [...new Map([...owners, ...admins].map((connection) => [connection.connectionId, connection])).values()];
  }

  async remove(connectionId: string): Promise<void> {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: marshall({ connectionId }) }));
  }

  private async query(index: { name: string; partitionKey: string }, value: string): Promise<EventConnection[]> {
    const connections: EventConnection[] = [];
    let startKey: QueryCommand['input']['ExclusiveStartKey'];
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': index.partitionKey },
          ExpressionAttributeValues: marshall({ ':pk': value }),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const { connectionId, owner, isAdmin, jobId } = unmarshall(item) as { connectionId: string; owner: string; isAdmin?: boolean; jobId?: string };
        connections.push({ connectionId, caller: { sub: owner, isAdmin: isAdmin === true }, ...(jobId ? { jobId } : {}) });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return connections;
  }
}
