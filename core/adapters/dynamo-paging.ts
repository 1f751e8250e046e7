import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { QueryCommand, type AttributeValue, type DynamoDBClient, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { InputInvalid } from '../errors';

/**
 * Paginated listings shared by the DynamoDB adapters: cursors a client can only hand back as the
 * server gave them, and queries that keep reading while a filter leaves a page short.
 */
export type DynamoKey = Record<string, AttributeValue>;

/** The one listing a cursor belongs to: a table's index, read within one partition. */
export interface Listing {
  table: string;
  index: string;
  /** The index's partition key attribute and the value this listing reads. */
  partitionKey: string;
  partition: string;
  /** Every attribute of a LastEvaluatedKey of this index (table key and index key), with its type. */
  keyAttributes: Record<string, 'string' | 'integer'>;
}

/** Longest string key value a cursor may carry (DynamoDB's sort key limit is 1024 bytes). */
const MAX_KEY_VALUE_LENGTH = 1024;
/** Half of a UTF-16 pair on its own: no key DynamoDB returned has one. */
const LONE_SURROGATE = /\p{Cs}/u;
const VERSION = 'v1';
const TOKEN = /^v1\.([A-Za-z0-9_-]{1,1800})\.([A-Za-z0-9_-]{43})$/;

/**
 * Signs a query's LastEvaluatedKey into an opaque `nextToken` and verifies one on the way back:
 * `v1.<base64url key JSON>.<base64url HMAC-SHA256>`, the MAC covering the listing (table, index,
 * partition) as well as the key. A token that was altered, made up, or issued for another
 * listing (another owner's jobs, another job's items) is refused before DynamoDB sees it, and
 * what passes is checked again to be a key of exactly that listing.
 */
export class PageCursors {
  /** @param key the HMAC key, read on first use (e.g. from Secrets Manager) and then cached by the caller. */
  constructor(private readonly key: () => Promise<Uint8Array>) {}

  /**
   * A random key of this process: its cursors are honoured by this process only. Enough for
   * code that pages through a listing itself (the worker, the local stack's redrive); API
   * handlers, whose cursors come back to another Lambda instance, use a shared key.
   */
  static processLocal(): PageCursors {
    return PROCESS_LOCAL;
  }

  async encode(listing: Listing, key: DynamoKey): Promise<string> {
    const payload = Buffer.from(JSON.stringify(unmarshall(key))).toString('base64url');
    return `${VERSION}.${payload}.${await this.mac(listing, payload)}`;
  }

  async decode(listing: Listing, token: string): Promise<DynamoKey> {
    const match = TOKEN.exec(token);
    if (match) {
      const [, payload, mac] = match as unknown as [string, string, string];
      const expected = Buffer.from(await this.mac(listing, payload), 'base64url');
      const given = Buffer.from(mac, 'base64url');
      if (given.length === expected.length && timingSafeEqual(given, expected)) {
        const key = parseKey(payload);
        if (key && isKeyOf(listing, key)) return marshall(key);
      }
    }
    throw new InputInvalid('nextToken is invalid', { fields: [{ field: 'nextToken', message: 'is not a token this listing returned' }] });
  }

  private async mac(listing: Listing, payload: string): Promise<string> {
    const context = JSON.stringify([VERSION, listing.table, listing.index, listing.partition, payload]);
    return createHmac('sha256', await this.key()).update(context).digest('base64url');
  }
}

const PROCESS_LOCAL_KEY = randomBytes(32);
const PROCESS_LOCAL = new PageCursors(() => Promise.resolve(PROCESS_LOCAL_KEY));

function parseKey(payload: string): Record<string, unknown> | undefined {
  try {
    const key: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return key !== null && typeof key === 'object' && !Array.isArray(key) ? (key as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Exactly the listing's key attributes, of their types, in its partition. */
function isKeyOf(listing: Listing, key: Record<string, unknown>): boolean {
  const names = Object.keys(key);
  if (names.length !== Object.keys(listing.keyAttributes).length || key[listing.partitionKey] !== listing.partition) return false;
  return names.every((name) => {
    const value = key[name];
    switch (listing.keyAttributes[name]) {
      case 'string':
        return typeof value === 'string' && value.length > 0 && value.length <= MAX_KEY_VALUE_LENGTH && !LONE_SURROGATE.test(value);
      case 'integer':
        return Number.isSafeInteger(value);
      default:
        return false;
    }
  });
}

/** A FilterExpression applies after Limit, so one read may return fewer rows than asked: read on until full. */
export async function queryUntilFull(
  client: DynamoDBClient,
  query: Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>,
  limit: number,
  startKey: DynamoKey | undefined,
): Promise<{ rows: Record<string, unknown>[]; lastKey?: DynamoKey }> {
  const rows: Record<string, unknown>[] = [];
  let next = startKey;
  do {
    const page = await client.send(new QueryCommand({ ...query, Limit: limit - rows.length, ExclusiveStartKey: next }));
    rows.push(...(page.Items ?? []).map((item) => unmarshall(item)));
    next = page.LastEvaluatedKey;
  } while (next && rows.length < limit);
  return { rows, ...(next ? { lastKey: next } : {}) };
}
