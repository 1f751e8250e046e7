import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../core/adapters/dynamo-job-store';
import { DynamoPortalSessionStore } from '../../core/adapters/dynamo-portal-session-store';
import { ensureJobsTable, ensurePortalSessionsTable, startLocalDynamoDb, type LocalDynamoDb } from '../../local/emulators/dynamodb';
import { PortalSessions, sessionKeyring } from '../../runtime/portal-sessions';
import { makeJob } from '../support/memory-job-store';
import { recordingLogger } from '../support/robot-runtime-fakes';

/** Kept portal sessions and the job's login counter against a real DynamoDB API (dynalite). */
let dynamodb: LocalDynamoDb;
let client: DynamoDBClient;
const dir = mkdtempSync(path.join(tmpdir(), 'portal-session-store-'));
const keyFile = path.join(dir, 'portal-session.key');

beforeAll(async () => {
  dynamodb = await startLocalDynamoDb();
  client = new DynamoDBClient({ endpoint: dynamodb.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await ensurePortalSessionsTable(client, 'portal-sessions');
  await ensureJobsTable(client, 'jobs');
  writeFileSync(keyFile, randomBytes(32).toString('base64'));
});
afterAll(async () => {
  client.destroy();
  await dynamodb.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('DynamoPortalSessionStore', () => {
  it('keeps the sealed blob byte for byte and deletes a session only while it is the version named', async () => {
    const store = new DynamoPortalSessionStore(client, 'portal-sessions');
    const sessions = new PortalSessions(store, sessionKeyring({ localKeyFile: keyFile }), 600);
    const scope = { owner: 'alice', host: 'portal.example.com', credentialsRef: 'acme' };
    const log = recordingLogger([]);
    const state = { cookies: [], origins: [{ origin: 'https://portal.example.com', localStorage: [{ name: 't', value: 'v' }] }] };

    const first = await sessions.saveSession(scope, state, log);
    expect(await sessions.restoreSession(scope, log)).toEqual({ state, version: first });
    const second = await sessions.saveSession(scope, state, log);
    await sessions.discardSession(scope, first);
    expect((await sessions.restoreSession(scope, log))?.version).toBe(second);
    await sessions.discardSession(scope, second);
    expect(await sessions.restoreSession(scope, log)).toBeUndefined();
    await sessions.discardSession(scope, second);
  });
});

describe('DynamoJobStore logins', () => {
  it('counts logins with atomic ADDs', async () => {
    const jobs = new DynamoJobStore(client, 'jobs');
    await jobs.create(makeJob({ jobId: 'job-logins' }));
    await Promise.all([1, 2, 3].map(() => jobs.countLogin('job-logins')));
    expect((await jobs.get('job-logins'))?.logins).toBe(3);
  });
});
