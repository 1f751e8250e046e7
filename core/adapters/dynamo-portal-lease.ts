import { ConditionalCheckFailedException, DeleteItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { PortalLease, PortalLeaseStore } from '../portal-lease';
import { LEASES_TABLE } from '../table-schema';

/**
 * One item per slot (`host#slot`), written only with conditional puts: a slot is taken when it
 * is missing, expired or already this holder's. DynamoDB's TTL removes long-expired slots.
 */
export class DynamoPortalLeaseStore implements PortalLeaseStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async tryAcquire(host: string, holder: string, slots: number, ttlSeconds: number, nowSeconds: number): Promise<PortalLease | undefined> {
    // Start at a random slot so that waiting jobs do not all contend for slot 0.
    const first = Math.floor(Math.random() * slots);
    for (let i = 0; i < slots; i++) {
      const slot = (first + i) % slots;
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: marshall({ [LEASES_TABLE.partitionKey]: slotKey(host, slot), holder, [LEASES_TABLE.ttlAttribute]: nowSeconds + ttlSeconds }),
            ConditionExpression: 'attribute_not_exists(#key) OR #expires < :now OR holder = :holder',
            ExpressionAttributeNames: { '#key': LEASES_TABLE.partitionKey, '#expires': LEASES_TABLE.ttlAttribute },
            ExpressionAttributeValues: marshall({ ':now': nowSeconds, ':holder': holder }),
          }),
        );
        return { host, slot, holder };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    return undefined;
  }

  async renew(lease: PortalLease, ttlSeconds: number, nowSeconds: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ [LEASES_TABLE.partitionKey]: slotKey(lease.host, lease.slot) }),
          UpdateExpression: 'SET #expires = :expires',
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeNames: { '#expires': LEASES_TABLE.ttlAttribute },
          ExpressionAttributeValues: marshall({ ':expires': nowSeconds + ttlSeconds, ':holder': lease.holder }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async release(lease: PortalLease): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: marshall({ [LEASES_TABLE.partitionKey]: slotKey(lease.host, lease.slot) }),
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeValues: marshall({ ':holder': lease.holder }),
        }),
      );
    } catch (error) {
      // Expired and taken by another job meanwhile: that slot is no longer ours to free.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

function slotKey(host: string, slot: number): string {
  return `${host}#${slot}`;
}
