import { ConditionalCheckFailedException, DeleteItemCommand, PutItemCommand, ScanCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { HeldSlot, PortalSlotReader } from '../operations';
import type { PortalLease, PortalLeaseStore } from '../portal-lease';
import { LEASES_TABLE } from '../table-schema';

/**
 * One item per slot (`host#slot`), written only with conditional puts: a slot is taken when it
 * is missing, expired or already this holder's. DynamoDB's TTL removes long-expired slots.
 */
export class DynamoPortalLeaseStore implements PortalLeaseStore, PortalSlotReader {
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

  /** The operations view (core/operations.ts): a scan, as the table holds one small item per slot of each host. */
  async listHeld(nowSeconds: number): Promise<HeldSlot[]> {
    const held: HeldSlot[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    for (let page = 0; page < MAX_SCAN_PAGES; page++) {
      const { Items = [], LastEvaluatedKey } = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: '#expires >= :now',
          ExpressionAttributeNames: { '#expires': LEASES_TABLE.ttlAttribute },
          ExpressionAttributeValues: marshall({ ':now': nowSeconds }),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of Items.map((raw) => unmarshall(raw))) {
        const key = String(item[LEASES_TABLE.partitionKey]);
        const separator = key.lastIndexOf('#');
        held.push({
          host: key.slice(0, separator),
          slot: Number(key.slice(separator + 1)),
          holder: String(item.holder),
          expiresAt: new Date(Number(item[LEASES_TABLE.ttlAttribute]) * 1000).toISOString(),
        });
      }
      startKey = LastEvaluatedKey;
      if (!startKey) break;
    }
    return held;
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

/** Pages of the slot listing: one item per slot ever taken, so a handful of hosts × their caps. */
const MAX_SCAN_PAGES = 10;

function slotKey(host: string, slot: number): string {
  return `${host}#${slot}`;
}
