import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { ACCOUNTS_TABLE } from '../table-schema';
import type { WebhookSecrets, WebhookSecretStore } from '../webhook-secrets';

/** Webhook secrets in the accounts table, one item per owner; writes are conditional on the secret they replace. */
export class DynamoWebhookSecretStore implements WebhookSecretStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async get(owner: string): Promise<WebhookSecrets | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ [ACCOUNTS_TABLE.partitionKey]: owner }), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const item = unmarshall(Item);
    return {
      current: String(item.webhookSecret),
      createdAt: String(item.webhookSecretCreatedAt),
      ...(item.previousWebhookSecret ? { previous: String(item.previousWebhookSecret) } : {}),
      ...(item.webhookSecretRotatedAt ? { rotatedAt: String(item.webhookSecretRotatedAt) } : {}),
    };
  }

  async put(owner: string, secrets: WebhookSecrets, expectedCurrent?: string): Promise<boolean> {
    const item = {
      [ACCOUNTS_TABLE.partitionKey]: owner,
      webhookSecret: secrets.current,
      webhookSecretCreatedAt: secrets.createdAt,
      previousWebhookSecret: secrets.previous,
      webhookSecretRotatedAt: secrets.rotatedAt,
    };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ...(expectedCurrent === undefined
            ? { ConditionExpression: 'attribute_not_exists(#owner)', ExpressionAttributeNames: { '#owner': ACCOUNTS_TABLE.partitionKey } }
            : { ConditionExpression: 'webhookSecret = :expected', ExpressionAttributeValues: marshall({ ':expected': expectedCurrent }) }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
