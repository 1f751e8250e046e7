import { QueryCommand, type AttributeValue, type DynamoDBClient, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { InputInvalid } from '../errors';

/**
 * Paginated listings shared by the DynamoDB adapters: opaque cursors that are only honoured for
 * the listing they came from, and queries that keep reading while a filter leaves a page short.
 */
export type DynamoKey = Record<string, AttributeValue>;

export function encodeCursor(key: DynamoKey): string {
  return Buffer.from(JSON.stringify(unmarshall(key))).toString('base64url');
}

/** `belongs` decides whether a decoded key comes from this listing (same partition, sane values). */
export function decodeCursor(token: string, belongs: (key: Record<string, unknown>) => boolean): DynamoKey {
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (key && typeof key === 'object' && belongs(key)) return marshall(key);
  } catch {
    // fall through to the error below
  }
  throw new InputInvalid('nextToken is invalid', { fields: [{ field: 'nextToken', message: 'is not a token this listing returned' }] });
}

/** A FilterExpression applies after Limit, so one read may return fewer rows than asked: read on until full. */
export async function queryUntilFull(
  client: DynamoDBClient,
  query: Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>,
  limit: number,
  startKey: DynamoKey | undefined,
): Promise<{ rows: Record<string, unknown>[]; nextToken?: string }> {
  const rows: Record<string, unknown>[] = [];
  let next = startKey;
  do {
    const page = await client.send(new QueryCommand({ ...query, Limit: limit - rows.length, ExclusiveStartKey: next }));
    rows.push(...(page.Items ?? []).map((item) => unmarshall(item)));
    next = page.LastEvaluatedKey;
  } while (next && rows.length < limit);
  return { rows, ...(next ? { nextToken: encodeCursor(next) } : {}) };
}
