import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoItemStore } from '../../core/adapters/dynamo-item-store';
import { DynamoPortalLeaseStore } from '../../core/adapters/dynamo-portal-lease';
import { InputInvalid } from '../../core/errors';
import { ensureItemsTable, ensureLeasesTable, startLocalDynamoDb, type LocalDynamoDb } from '../../local/emulators/dynamodb';

/** The worker's DynamoDB adapters (item checkpoints, portal slots) against dynalite. */
let dynamo: LocalDynamoDb;
let items: DynamoItemStore;
let leases: DynamoPortalLeaseStore;
const NOW = '2026-11-23T10:00:00.000Z';
const technical = { type: 'TECHNICAL' as const, code: 'TIMEOUT', message: 'slow' };
const business = { type: 'BUSINESS' as const, code: 'UNKNOWN_INVOICE', message: 'unknown' };
const artifact = { name: 'POD-1.pdf', contentType: 'application/pdf', size: 3, sha256: 'abc', key: 'jobs/j/items/1/POD-1.pdf' };

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
  const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await ensureItemsTable(client, 'items');
  await ensureLeasesTable(client, 'leases');
  items = new DynamoItemStore(client, 'items');
  leases = new DynamoPortalLeaseStore(client, 'leases');
});

afterAll(() => dynamo?.close());

describe('DynamoItemStore', () => {
  it('creates items once and lists them in submission order, page by page', async () => {
    const keys = ['900', '100', '500', '300', '700'];
    await items.ensureItems('job-order', keys, NOW);
    await items.markSucceeded('job-order', '500', artifact, NOW);
    await items.ensureItems('job-order', keys, NOW);

    const first = await items.list('job-order', { limit: 3 });
    const second = await items.list('job-order', { limit: 3, nextToken: first.nextToken! });

    expect([...first.items, ...second.items].map((item) => item.key)).toEqual(keys);
    expect(second.nextToken).toBeUndefined();
    expect(first.items[2]).toMatchObject({ key: '500', status: 'SUCCEEDED', artifact });
    expect((await items.list('job-order', { limit: 10, status: 'PENDING' })).items).toHaveLength(4);
    await expect(items.list('another-job', { limit: 3, nextToken: first.nextToken! })).rejects.toBeInstanceOf(InputInvalid);
  });

  it('begins only unsettled items and never overwrites a success', async () => {
    await items.ensureItems('job-rules', ['a', 'b', 'c'], NOW);

    expect(await items.beginItem('job-rules', 'a', NOW)).toMatchObject({ key: 'a', attempts: 1, position: 0 });
    // Each checkpoint answers the status the item had just before it (core/progress.ts counts by it).
    expect(await items.markSucceeded('job-rules', 'a', artifact, NOW)).toBe('PENDING');
    expect(await items.markSucceeded('job-rules', 'a', { ...artifact, sha256: 'other' }, NOW)).toBeUndefined();
    expect(await items.markFailed('job-rules', 'a', technical, [], NOW)).toBeUndefined();
    expect(await items.beginItem('job-rules', 'a', NOW)).toBeUndefined();
    expect(await items.get('job-rules', 'a')).toMatchObject({ status: 'SUCCEEDED', artifact: { sha256: 'abc' } });

    expect(await items.markFailed('job-rules', 'b', technical, [artifact], NOW)).toBe('PENDING');
    expect(await items.beginItem('job-rules', 'b', NOW)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(await items.markFailed('job-rules', 'b', technical, [artifact], NOW)).toBe('FAILED');
    expect(await items.markSucceeded('job-rules', 'b', undefined, NOW)).toBe('FAILED');
    const retried = await items.get('job-rules', 'b');
    expect(retried).toMatchObject({ status: 'SUCCEEDED' });
    expect(retried).not.toHaveProperty('error');
    expect(retried).not.toHaveProperty('evidence');

    await items.markFailed('job-rules', 'c', business, [artifact], NOW);
    expect(await items.beginItem('job-rules', 'c', NOW)).toBeUndefined();
    expect(await items.get('job-rules', 'c')).toMatchObject({ status: 'FAILED', error: business, evidence: [artifact] });
    expect(await items.beginItem('job-rules', 'missing', NOW)).toBeUndefined();
  });
});

describe('DynamoPortalLeaseStore', () => {
  const now = 1_800_000_000;

  it('gives at most K slots per host, lets a holder take its own slot back, and frees expired ones', async () => {
    const first = await leases.tryAcquire('portal.test', 'job-1', 2, 30, now);
    const second = await leases.tryAcquire('portal.test', 'job-2', 2, 30, now);
    expect(new Set([first?.slot, second?.slot])).toEqual(new Set([0, 1]));
    expect(await leases.tryAcquire('portal.test', 'job-3', 2, 30, now)).toBeUndefined();
    expect(await leases.tryAcquire('other.test', 'job-3', 2, 30, now)).toBeDefined();

    // job-1's worker died and the job came back: it gets its own slot again at once.
    expect(await leases.tryAcquire('portal.test', 'job-1', 2, 30, now + 5)).toMatchObject({ slot: first!.slot });
    expect(await leases.renew(second!, 30, now + 10)).toBe(true);
    // job-1 is renewed until now+35, job-2 until now+40: after now+35 one slot is free.
    expect(await leases.tryAcquire('portal.test', 'job-3', 2, 30, now + 36)).toMatchObject({ slot: first!.slot, holder: 'job-3' });
    expect(await leases.renew(first!, 30, now + 36)).toBe(false);
  });

  it('releases only a slot the holder still has', async () => {
    const lease = (await leases.tryAcquire('release.test', 'job-1', 1, 30, now))!;
    await leases.release({ ...lease, holder: 'job-2' });
    expect(await leases.tryAcquire('release.test', 'job-2', 1, 30, now)).toBeUndefined();
    await leases.release(lease);
    expect(await leases.tryAcquire('release.test', 'job-2', 1, 30, now)).toMatchObject({ holder: 'job-2' });
  });
});
