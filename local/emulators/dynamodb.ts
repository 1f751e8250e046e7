import dynalite from 'dynalite';
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { ACCOUNTS_TABLE, ITEMS_TABLE, JOBS_TABLE, LEASES_TABLE, PORTAL_SESSIONS_TABLE, SCHEDULES_TABLE } from '../../core/table-schema';
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
  await ensureTable(client, tableName, () => createOwnerIndexedTable(client, tableName, JOBS_TABLE));
}

/** Creates the schedules table (same key and index shape as the jobs table) unless it exists. */
export async function ensureSchedulesTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(client, tableName, () => createOwnerIndexedTable(client, tableName, SCHEDULES_TABLE));
}

/** Creates the accounts table (webhook secrets, key from core/table-schema) unless it exists. */
export async function ensureAccountsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(client, tableName, () =>
    createTable(client, {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: ACCOUNTS_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: ACCOUNTS_TABLE.partitionKey, AttributeType: 'S' }],
    }),
  );
}

/** Creates the work items table (key and position index from core/table-schema) unless it exists. */
export async function ensureItemsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, byPositionIndex } = ITEMS_TABLE;
  await ensureTable(client, tableName, () =>
    createTable(client, {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'S' },
        { AttributeName: byPositionIndex.sortKey, AttributeType: 'N' },
      ],
      LocalSecondaryIndexes: [
        {
          IndexName: byPositionIndex.name,
          KeySchema: [
            { AttributeName: partitionKey, KeyType: 'HASH' },
            { AttributeName: byPositionIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
}

/** Creates the portal leases table unless it exists (dynalite has no TTL: expiry is checked on write). */
export async function ensureLeasesTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(client, tableName, () =>
    createTable(client, {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: LEASES_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: LEASES_TABLE.partitionKey, AttributeType: 'S' }],
    }),
  );
}

/** Kept portal sessions; dynalite has no TTL: runtime/portal-sessions.ts checks the expiry itself. */
export async function ensurePortalSessionsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(client, tableName, () =>
    createTable(client, {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: PORTAL_SESSIONS_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: PORTAL_SESSIONS_TABLE.partitionKey, AttributeType: 'S' }],
    }),
  );
}

async function ensureTable(client: DynamoDBClient, tableName: string, create: () => Promise<void>): Promise<void> {
  if (!(await describeTable(client, tableName))) await create();
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

/** A table keyed by id with a per-owner and an everyone index, as core/table-schema lays out jobs and schedules. */
async function createOwnerIndexedTable(
  client: DynamoDBClient,
  tableName: string,
  { partitionKey, byOwnerIndex, byCreatedIndex }: typeof JOBS_TABLE | typeof SCHEDULES_TABLE,
): Promise<void> {
  const indexes = [byOwnerIndex, byCreatedIndex];
  const keyAttributes = [partitionKey, ...indexes.flatMap((index) => [index.partitionKey, index.sortKey])];
  await createTable(client, {
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
  });
}

async function createTable(client: DynamoDBClient, input: CreateTableCommandInput): Promise<void> {
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    // Another process created it between our describe and create: that is the state we want.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}
