import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ItemArtifact, ItemPage, ItemStatus, ItemStore, JobItem } from '../items';
import type { JobError } from '../job';
import { ITEMS_TABLE } from '../table-schema';
import { PageCursors, queryUntilFull, type Listing } from './dynamo-paging';

/** Parallel conditional puts when a job's items are first written (thousands for a big sheet). */
const CREATE_PARALLELISM = 8;
/** BatchGetItem reads at most 100 keys per request. */
const BATCH_GET_KEYS = 100;
const UNPROCESSED_RETRIES = 5;

/**
 * Item checkpoints, one DynamoDB item per work item. Every state change is a single conditional
 * write: a success is never overwritten, and a settled item is never begun again.
 */
export class DynamoItemStore implements ItemStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    /** Signs list cursors; API handlers pass one with the stage's shared key. */
    private readonly cursors: PageCursors = PageCursors.processLocal(),
  ) {}

  async ensureItems(jobId: string, keys: readonly string[], now: string): Promise<void> {
    const existing = await this.existingKeys(jobId);
    const missing = keys.map((key, position) => ({ key, position })).filter(({ key }) => !existing.has(key));
    for (let i = 0; i < missing.length; i += CREATE_PARALLELISM) {
      await Promise.all(missing.slice(i, i + CREATE_PARALLELISM).map(({ key, position }) => this.create(jobId, key, position, now)));
    }
  }

  async get(jobId: string, key: string): Promise<JobItem | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: this.key(jobId, key), ConsistentRead: true }));
    return Item ? fromItem(unmarshall(Item)) : undefined;
  }

  async getMany(jobId: string, keys: readonly string[]): Promise<Map<string, JobItem>> {
    const found = new Map<string, JobItem>();
    for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) {
      let request: Record<string, AttributeValue>[] | undefined = keys.slice(i, i + BATCH_GET_KEYS).map((key) => this.key(jobId, key));
      // DynamoDB may leave keys unprocessed under load: ask again for those, a bounded number of times.
      for (let tries = 0; request && request.length > 0; tries++) {
        if (tries > UNPROCESSED_RETRIES) throw new Error(`BatchGetItem left ${request.length} keys of job ${jobId} unprocessed`);
        const answer: BatchGetItemCommandOutput = await this.client.send(
          new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: request, ConsistentRead: true } } }),
        );
        const { Responses, UnprocessedKeys } = answer;
        for (const row of Responses?.[this.tableName] ?? []) {
          const item = fromItem(unmarshall(row));
          found.set(item.key, item);
        }
        request = UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  async list(jobId: string, query: { limit: number; nextToken?: string; status?: ItemStatus }): Promise<ItemPage> {
    const listing = itemListing(this.tableName, jobId);
    const { rows, lastKey } = await queryUntilFull(
      this.client,
      {
        TableName: this.tableName,
        IndexName: ITEMS_TABLE.byPositionIndex.name,
        KeyConditionExpression: '#job = :job',
        ...(query.status ? { FilterExpression: '#status = :status' } : {}),
        ExpressionAttributeNames: { '#job': ITEMS_TABLE.partitionKey, ...(query.status ? { '#status': 'status' } : {}) },
        ExpressionAttributeValues: marshall({ ':job': jobId, ...(query.status ? { ':status': query.status } : {}) }),
        ConsistentRead: true,
      },
      query.limit,
      query.nextToken ? await this.cursors.decode(listing, query.nextToken) : undefined,
    );
    return { items: rows.map(fromItem), ...(lastKey ? { nextToken: await this.cursors.encode(listing, lastKey) } : {}) };
  }

  async beginItem(jobId: string, key: string, now: string): Promise<JobItem | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(jobId, key),
          UpdateExpression: 'SET attempts = attempts + :one, updatedAt = :now',
          // Not settled: pending, or failed on something a retry may fix.
          ConditionExpression: 'attribute_exists(#job) AND (#status = :pending OR (#status = :failed AND #error.#type = :technical))',
          ExpressionAttributeNames: { '#job': ITEMS_TABLE.partitionKey, '#status': 'status', '#error': 'error', '#type': 'type' },
          ExpressionAttributeValues: marshall({ ':one': 1, ':now': now, ':pending': 'PENDING', ':failed': 'FAILED', ':technical': 'TECHNICAL' }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(unmarshall(Attributes ?? {}));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async markSucceeded(jobId: string, key: string, artifact: ItemArtifact | undefined, now: string): Promise<ItemStatus | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(jobId, key),
          UpdateExpression: `SET #status = :succeeded, updatedAt = :now${artifact ? ', artifact = :artifact' : ''} REMOVE #error, evidence`,
          ConditionExpression: 'attribute_exists(#job) AND #status <> :succeeded',
          ExpressionAttributeNames: { '#job': ITEMS_TABLE.partitionKey, '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: marshall({ ':succeeded': 'SUCCEEDED', ':now': now, ...(artifact ? { ':artifact': artifact } : {}) }),
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return previousStatus(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async markFailed(jobId: string, key: string, error: JobError, evidence: readonly ItemArtifact[], now: string): Promise<ItemStatus | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(jobId, key),
          UpdateExpression: 'SET #status = :failed, #error = :error, evidence = :evidence, updatedAt = :now',
          ConditionExpression: 'attribute_exists(#job) AND #status <> :succeeded',
          ExpressionAttributeNames: { '#job': ITEMS_TABLE.partitionKey, '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: marshall({ ':failed': 'FAILED', ':succeeded': 'SUCCEEDED', ':error': error, ':evidence': evidence, ':now': now }),
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return previousStatus(Attributes);
    } catch (caught) {
      // Another delivery of the job succeeded on this item meanwhile: its success stands.
      if (!(caught instanceof ConditionalCheckFailedException)) throw caught;
      return undefined;
    }
  }

  private async create(jobId: string, key: string, position: number, now: string): Promise<void> {
    const item: JobItem = { jobId, key, position, status: 'PENDING', attempts: 0, updatedAt: now };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(toItem(item)),
          ConditionExpression: 'attribute_not_exists(#job)',
          ExpressionAttributeNames: { '#job': ITEMS_TABLE.partitionKey },
        }),
      );
    } catch (error) {
      // Written by another delivery of the same job: keep its state.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private async existingKeys(jobId: string): Promise<Set<string>> {
    const keys = new Set<string>();
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#job = :job',
          ProjectionExpression: '#key',
          ExpressionAttributeNames: { '#job': ITEMS_TABLE.partitionKey, '#key': ITEMS_TABLE.sortKey },
          ExpressionAttributeValues: marshall({ ':job': jobId }),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) keys.add(String(unmarshall(item)[ITEMS_TABLE.sortKey]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return keys;
  }

  private key(jobId: string, key: string): Record<string, AttributeValue> {
    return marshall({ [ITEMS_TABLE.partitionKey]: jobId, [ITEMS_TABLE.sortKey]: key });
  }
}

/** The status before a checkpoint, from UPDATED_OLD (status is among the attributes every checkpoint sets). */
function previousStatus(attributes: Record<string, AttributeValue> | undefined): ItemStatus | undefined {
  const status = attributes && unmarshall(attributes).status;
  if (typeof status !== 'string') throw new Error('A checkpoint returned no previous status');
  return status as ItemStatus;
}

function toItem(item: JobItem): Record<string, unknown> {
  const { key, ...rest } = item;
  return { ...rest, [ITEMS_TABLE.sortKey]: key };
}

function fromItem(item: Record<string, unknown>): JobItem {
  const { [ITEMS_TABLE.sortKey]: key, ...rest } = item;
  return { ...(rest as Omit<JobItem, 'key'>), key: String(key) };
}

/** One job's items in submission order: a cursor of it is honoured for that job only. */
function itemListing(table: string, jobId: string): Listing {
  return {
    table,
    index: ITEMS_TABLE.byPositionIndex.name,
    partitionKey: ITEMS_TABLE.partitionKey,
    partition: jobId,
    keyAttributes: { [ITEMS_TABLE.partitionKey]: 'string', [ITEMS_TABLE.sortKey]: 'string', [ITEMS_TABLE.byPositionIndex.sortKey]: 'integer' },
  };
}
