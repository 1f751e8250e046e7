import dynalite from 'dynalite';
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { JOBS_TABLE } from '../../core/table-schema';
import { closeServer, listenOnLoopback } from './http-server';
import { pollUntil } from './poll';

export interface LocalDynamoDbOptions {
  /** LevelDB directory that keeps the tables across restarts; in memory when absent. */
  dataDir?: string;
  port?: number;
}

export interface LocalDynamoDb {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite in-process on 127.0.0.1. */
export async function startLocalDynamoDb({ dataDir, port }: LocalDynamoDbOptions = {}): Promise<LocalDynamoDb> {
  // createTableMs 0: tables become ACTIVE at once instead of after dynalite's simulated 500 ms.
  const server = dynalite({ createTableMs: 0, path: dataDir });
  const endpoint = await listenOnLoopback(server, port);
  return { endpoint, close: () => closeServer(server) };
}

/** Creates the jobs table (key and indexes from core/table-schema) unless it exists, and waits until it is ACTIVE. */
export async function ensureJobsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  if (!(await describeTable(client, tableName))) await createJobsTable(client, tableName);
  await pollUntil(async () => (isActive(await describeTable(client, tableName)) ? true : undefined), {
    timeoutMs: 10_000,
    description: `table ${tableName} to become ACTIVE`,
  });
}

async function describeTable(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

function isActive(table: TableDescription | undefined): boolean {
  return (
    table?.TableStatus === 'ACTIVE' &&
    (table.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE')
  );
}

async function createJobsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, byOwnerIndex, byCreatedIndex } = JOBS_TABLE;
  const indexes = [byOwnerIndex, byCreatedIndex];
  const keyAttributes = [partitionKey, ...indexes.flatMap((index) => [index.partitionKey, index.sortKey])];
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
        AttributeDefinitions: [...new Set(keyAttributes)].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        GlobalSecondaryIndexes: indexes.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      }),
    );
  } catch (error) {
    // Another process created it between our describe and create: that is the state we want.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}
