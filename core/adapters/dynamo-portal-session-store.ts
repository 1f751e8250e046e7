import { ConditionalCheckFailedException, DeleteItemCommand, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { PortalSessionStore, StoredPortalSession } from '../ports';
import { PORTAL_SESSIONS_TABLE } from '../table-schema';

/** Kept portal sessions, one DynamoDB item each (core/table-schema.ts PORTAL_SESSIONS_TABLE); the blob is sealed already. */
export class DynamoPortalSessionStore implements PortalSessionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async get(key: string): Promise<StoredPortalSession | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: this.key(key), ConsistentRead: true }));
    if (!Item) return undefined;
    const item = unmarshall(Item);
    return { key, blob: item.blob as Uint8Array, expiresAt: Number(item[PORTAL_SESSIONS_TABLE.ttlAttribute]), version: String(item.version) };
  }

  async put(session: StoredPortalSession): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({ [PORTAL_SESSIONS_TABLE.partitionKey]: session.key, blob: session.blob, [PORTAL_SESSIONS_TABLE.ttlAttribute]: session.expiresAt, version: session.version }),
      }),
    );
  }

  async delete(key: string, version: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({ TableName: this.tableName, Key: this.key(key), ConditionExpression: '#version = :version', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: marshall({ ':version': version }) }),
      );
    } catch (error) {
      // Replaced by a newer session (or gone): nothing of ours to delete.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private key(key: string) {
    return marshall({ [PORTAL_SESSIONS_TABLE.partitionKey]: key });
  }
}
