import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { Schedule, ScheduleListQuery, SchedulePage, ScheduleStore } from '../schedules';
import { SCHEDULES_TABLE } from '../table-schema';
import { indexListing } from './dynamo-job-store';
import { PageCursors } from './dynamo-paging';

/** Constant partition of the admin index: every schedule item carries it. */
const SCHEDULE_ENTITY = 'SCHEDULE';

/** Schedules in one DynamoDB item each; the robot input is kept as a JSON string, as for jobs. */
export class DynamoScheduleStore implements ScheduleStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    /** Signs list cursors; API handlers pass one with the stage's shared key. */
    private readonly cursors: PageCursors = PageCursors.processLocal(),
  ) {}

  async create(schedule: Schedule): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(toItem(schedule), { removeUndefinedValues: true }),
          ConditionExpression: 'attribute_not_exists(#id)',
          ExpressionAttributeNames: { '#id': SCHEDULES_TABLE.partitionKey },
        }),
      );
    } catch (error) {
      // Ids are random UUIDs: a collision is a bug, not a replay.
      if (error instanceof ConditionalCheckFailedException) throw new Error(`Schedule ${schedule.scheduleId} exists already`, { cause: error });
      throw error;
    }
  }

  async get(scheduleId: string): Promise<Schedule | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: this.key(scheduleId), ConsistentRead: true }));
    return Item ? fromItem(unmarshall(Item)) : undefined;
  }

  async delete(scheduleId: string): Promise<void> {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: this.key(scheduleId) }));
  }

  async countByOwner(owner: string): Promise<number> {
    const { name, partitionKey } = SCHEDULES_TABLE.byOwnerIndex;
    let count = 0;
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: name,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': partitionKey },
          ExpressionAttributeValues: marshall({ ':pk': owner }),
          Select: 'COUNT',
          ExclusiveStartKey: startKey,
        }),
      );
      count += page.Count ?? 0;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return count;
  }

  async list(query: ScheduleListQuery): Promise<SchedulePage> {
    const index = query.owner ? SCHEDULES_TABLE.byOwnerIndex : SCHEDULES_TABLE.byCreatedIndex;
    const listing = indexListing(this.tableName, SCHEDULES_TABLE.partitionKey, index, query.owner ?? SCHEDULE_ENTITY);
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.partitionKey },
        ExpressionAttributeValues: marshall({ ':pk': listing.partition }),
        ScanIndexForward: false,
        Limit: query.limit,
        ExclusiveStartKey: query.nextToken ? await this.cursors.decode(listing, query.nextToken) : undefined,
      }),
    );
    return {
      schedules: (page.Items ?? []).map((item) => fromItem(unmarshall(item))),
      ...(page.LastEvaluatedKey ? { nextToken: await this.cursors.encode(listing, page.LastEvaluatedKey) } : {}),
    };
  }

  private key(scheduleId: string): Record<string, AttributeValue> {
    return marshall({ [SCHEDULES_TABLE.partitionKey]: scheduleId });
  }
}

function toItem(schedule: Schedule): Record<string, unknown> {
  const { input, ...rest } = schedule;
  return { ...rest, inputJson: JSON.stringify(input), entity: SCHEDULE_ENTITY, createdKey: `${schedule.createdAt}#${schedule.scheduleId}` };
}

function fromItem(item: Record<string, unknown>): Schedule {
  const { inputJson, entity: _entity, createdKey: _createdKey, ...rest } = item;
  return { ...(rest as Omit<Schedule, 'input'>), input: JSON.parse(String(inputJson)) as Record<string, unknown> };
}
