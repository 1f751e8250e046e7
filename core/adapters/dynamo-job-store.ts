import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { IllegalTransition, JobNotFound } from '../errors';
import { ALLOWED_SOURCES, isTerminal, type Artifact, type Job, type JobStatus, type WebhookDelivery } from '../job';
import type { JobChangeListener } from '../job-events';
import type { JobListQuery, JobPage, JobStore, TransitionChange } from '../ports';
import type { ItemCountDelta } from '../progress';
import { JOBS_TABLE } from '../table-schema';
import { PageCursors, queryUntilFull, type Listing } from './dynamo-paging';

/** Constant partition of the admin index: every job item carries it. */
const JOB_ENTITY = 'JOB';
/** Every write but the first adds one to the job's `version` (core/job-events.ts). */
const BUMP_VERSION = '#version = if_not_exists(#version, :zero) + :one';
const VERSION_NAMES = { '#version': 'version' };
const VERSION_VALUES = { ':zero': 0, ':one': 1 };

/**
 * Jobs in one DynamoDB item each. The robot input is stored as a JSON string: it is opaque to
 * the table, and this keeps empty strings and nested shapes exactly as submitted.
 */
export class DynamoJobStore implements JobStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    /** Days a finished job is kept before DynamoDB's TTL removes it; undefined keeps it forever. */
    private readonly retentionDays?: number,
    /** Signs list cursors; API handlers pass one with the stage's shared key. */
    private readonly cursors: PageCursors = PageCursors.processLocal(),
    /**
     * Told every job as written, after the write. In AWS nothing listens here: the table's stream
     * carries each write to the events fan-out; the local stack, whose DynamoDB has no streams, listens.
     */
    private readonly onChange?: JobChangeListener,
  ) {}

  async create(job: Job): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(toItem({ ...job, version: 1 }), { removeUndefinedValues: true }),
          ConditionExpression: 'attribute_not_exists(#id)',
          ExpressionAttributeNames: { '#id': JOBS_TABLE.partitionKey },
        }),
      );
      await this.onChange?.({ ...job, version: 1 });
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async get(jobId: string): Promise<Job | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: this.key(jobId), ConsistentRead: true }),
    );
    return Item ? fromItem(unmarshall(Item)) : undefined;
  }

  async transition(jobId: string, to: JobStatus, change: TransitionChange): Promise<Job> {
    const sources = ALLOWED_SOURCES[to];
    const values: Record<string, unknown> = { ':to': to, ':now': change.now, ...VERSION_VALUES };
    sources.forEach((status, i) => (values[`:from${i}`] = status));
    const sets = ['#status = :to', 'updatedAt = :now', BUMP_VERSION];
    if (change.error) {
      sets.push('#error = :error');
      values[':error'] = change.error;
    }
    if (isTerminal(to) && this.retentionDays !== undefined) {
      sets.push(`${JOBS_TABLE.ttlAttribute} = :expiresAt`);
      values[':expiresAt'] = Math.floor(Date.parse(change.now) / 1000) + this.retentionDays * 86_400;
    }
    if (change.attemptRuntime) {
      sets.push('attempts = attempts + :one', 'lastAttemptRuntime = :runtime', 'startedAt = if_not_exists(startedAt, :now)');
      values[':one'] = 1;
      values[':runtime'] = change.attemptRuntime;
    }
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(jobId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(#id) AND #status IN (${sources.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: { '#id': JOBS_TABLE.partitionKey, '#status': 'status', ...VERSION_NAMES, ...(change.error ? { '#error': 'error' } : {}) },
          ExpressionAttributeValues: marshall(values),
          ReturnValues: 'ALL_NEW',
        }),
      );
      const job = fromItem(unmarshall(Attributes ?? {}));
      await this.onChange?.(job);
      return job;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.get(jobId);
      if (!current) throw new JobNotFound(jobId);
      throw new IllegalTransition(`Job ${jobId} is ${current.status} and cannot become ${to}`);
    }
  }

  async setExecutionArn(jobId: string, executionArn: string): Promise<void> {
    await this.updateExisting(jobId, 'SET executionArn = :arn', { ':arn': executionArn });
  }

  async addArtifact(jobId: string, artifact: Artifact, now: string): Promise<void> {
    // Read-modify-write guarded by updatedAt, so two writers never drop each other's artifact.
    for (let attempt = 0; attempt < 5; attempt++) {
      const job = await this.get(jobId);
      if (!job) throw new JobNotFound(jobId);
      if (job.status !== 'RUNNING') throw new IllegalTransition(`Job ${jobId} is ${job.status}; artifacts are only added while RUNNING`);
      const artifacts = [...job.artifacts.filter((a) => a.name !== artifact.name), artifact];
      try {
        const { Attributes } = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: this.key(jobId),
            UpdateExpression: `SET artifacts = :artifacts, updatedAt = :now, ${BUMP_VERSION}`,
            ConditionExpression: '#status = :running AND updatedAt = :seen',
            ExpressionAttributeNames: { '#status': 'status', ...VERSION_NAMES },
            ExpressionAttributeValues: marshall({ ':artifacts': artifacts, ':now': now, ':running': 'RUNNING', ':seen': job.updatedAt, ...VERSION_VALUES }),
            ReturnValues: 'ALL_NEW',
          }),
        );
        await this.onChange?.(fromItem(unmarshall(Attributes ?? {})));
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    throw new IllegalTransition(`Job ${jobId} kept changing while an artifact was recorded`);
  }

  async list(query: JobListQuery): Promise<JobPage> {
    const index = query.owner ? JOBS_TABLE.byOwnerIndex : JOBS_TABLE.byCreatedIndex;
    const listing = indexListing(this.tableName, JOBS_TABLE.partitionKey, index, query.owner ?? JOB_ENTITY);
    const { rows, lastKey } = await queryUntilFull(
      this.client,
      {
        TableName: this.tableName,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ...(query.status ? { FilterExpression: '#status = :status' } : {}),
        ExpressionAttributeNames: { '#pk': index.partitionKey, ...(query.status ? { '#status': 'status' } : {}) },
        ExpressionAttributeValues: marshall({ ':pk': listing.partition, ...(query.status ? { ':status': query.status } : {}) }),
        ScanIndexForward: false,
      },
      query.limit,
      query.nextToken ? await this.cursors.decode(listing, query.nextToken) : undefined,
    );
    return { jobs: rows.map(fromItem), ...(lastKey ? { nextToken: await this.cursors.encode(listing, lastKey) } : {}) };
  }

  async setWebhookDelivery(jobId: string, delivery: WebhookDelivery): Promise<void> {
    await this.updateExisting(jobId, 'SET webhook = :webhook', { ':webhook': delivery });
  }

  async setItemTotal(jobId: string, total: number): Promise<void> {
    await this.updateExisting(jobId, 'SET itemsTotal = :total', { ':total': total });
  }

  async addRetry(jobId: string, retryJobId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(jobId),
          UpdateExpression: 'SET retries = list_append(if_not_exists(retries, :none), :retry)',
          // Once per retry: an idempotent replay links again and changes nothing.
          ConditionExpression: 'attribute_exists(#id) AND (attribute_not_exists(retries) OR NOT contains(retries, :retryId))',
          ExpressionAttributeNames: { '#id': JOBS_TABLE.partitionKey },
          ExpressionAttributeValues: marshall({ ':none': [], ':retry': [retryJobId], ':retryId': retryJobId }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!(await this.get(jobId))) throw new JobNotFound(jobId);
    }
  }

  async countItems(jobId: string, delta: ItemCountDelta): Promise<void> {
    await this.updateExisting(jobId, 'ADD itemsSucceeded :succeeded, itemsFailed :failed', { ':succeeded': delta.succeeded, ':failed': delta.failed });
  }

  async countLogin(jobId: string): Promise<void> {
    await this.updateExisting(jobId, 'ADD logins :one', { ':one': 1 });
  }

  /** One unconditional change of a job that exists, whatever its status; `change` is a SET or ADD clause, the version bump is added to it. */
  private async updateExisting(jobId: string, change: string, values: Record<string, unknown>): Promise<void> {
    const updateExpression = change.startsWith('SET ') ? `${change}, ${BUMP_VERSION}` : `${change} SET ${BUMP_VERSION}`;
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(jobId),
          UpdateExpression: updateExpression,
          ConditionExpression: 'attribute_exists(#id)',
          ExpressionAttributeNames: { '#id': JOBS_TABLE.partitionKey, ...VERSION_NAMES },
          ExpressionAttributeValues: marshall({ ...values, ...VERSION_VALUES }, { removeUndefinedValues: true }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      await this.onChange?.(fromItem(unmarshall(Attributes ?? {})));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new JobNotFound(jobId);
      throw error;
    }
  }

  private key(jobId: string): Record<string, AttributeValue> {
    return marshall({ [JOBS_TABLE.partitionKey]: jobId });
  }
}

function toItem(job: Job): Record<string, unknown> {
  const { input, ...rest } = job;
  return { ...rest, inputJson: JSON.stringify(input), entity: JOB_ENTITY, createdKey: `${job.createdAt}#${job.jobId}` };
}

/** A job from its item (a GetItem answer, or a stream record's NewImage unmarshalled). */
export function fromItem(item: Record<string, unknown>): Job {
  const { inputJson, entity: _entity, createdKey: _createdKey, expiresAt: _expiresAt, ...rest } = item;
  return { ...(rest as Omit<Job, 'input'>), input: JSON.parse(String(inputJson)) as Record<string, unknown> };
}

/** A listing of a jobs or schedules index (`owner` or `entity` partition, `createdKey` sort) within one partition. */
export function indexListing(table: string, tableKey: string, index: { name: string; partitionKey: string; sortKey: string }, partition: string): Listing {
  return {
    table,
    index: index.name,
    partitionKey: index.partitionKey,
    partition,
    keyAttributes: { [tableKey]: 'string', [index.partitionKey]: 'string', [index.sortKey]: 'string' },
  };
}
