import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { toJobView } from '../../core/job';
import { ProgressCountingItemStore } from '../../core/progress';
import { businessError, sessionEnded } from '../../core/robot';
import { portalSessionKey, PortalSessions, sessionKeyring, type SessionScope, type StorageState } from '../../runtime/portal-sessions';
import { runRobotJob } from '../../runtime/robot-runtime';
import { MemoryItemStore } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';
import { MemoryPortalSessionStore } from '../support/memory-portal-session-store';
import { fakeRuntimeDeps, idleAttempt, idleSessions, keysRobot, recordingLogger, type LogLine } from '../support/robot-runtime-fakes';

const dir = mkdtempSync(path.join(tmpdir(), 'portal-sessions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keyFile = (name: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, randomBytes(32).toString('base64'));
  return file;
};
const KEY = keyFile('stage.key');

const COOKIE_VALUE = 'c00kie-value-9f3a7e';
const STATE: StorageState = {
  cookies: [{ name: 'portal_session', value: COOKIE_VALUE, domain: '127.0.0.1', path: '/', expires: -1, httpOnly: true, secure: false, sameSite: 'Lax' }],
  origins: [{ origin: 'http://127.0.0.1:4006', localStorage: [{ name: 'token', value: 'local-storage-token-55' }] }],
};
const ALICE: SessionScope = { owner: 'alice', host: '127.0.0.1:4006', credentialsRef: 'shared/freight-portal' };

let store: MemoryPortalSessionStore;
let nowMs: number;
let lines: LogLine[];
const log = () => recordingLogger(lines);
const sessions = (keyPath = KEY, ttlSeconds = 1800) => new PortalSessions(store, sessionKeyring({ localKeyFile: keyPath }), ttlSeconds, () => nowMs);

beforeEach(() => {
  store = new MemoryPortalSessionStore();
  nowMs = Date.parse('2026-12-08T10:00:00.000Z');
  lines = [];
});

describe('kept portal sessions: sealing', () => {
  it('round-trips the storage state, sealed: no cookie or storage value in clear, expiry set by the TTL', async () => {
    const kept = sessions();
    const version = await kept.saveSession(ALICE, STATE, log());

    const row = store.rows.get(portalSessionKey(ALICE))!;
    expect(row.version).toBe(version);
    expect(row.expiresAt).toBe(nowMs / 1000 + 1800);
    const clear = Buffer.from(row.blob).toString('latin1');
    expect(clear).not.toContain(COOKIE_VALUE);
    expect(clear).not.toContain('local-storage-token-55');
    expect(await kept.restoreSession(ALICE, log())).toEqual({ state: STATE, version });
  });

  it('keys by owner, portal host (case-insensitive) and credentials; the key names none of them', () => {
    const keys = new Set([
      portalSessionKey(ALICE),
      portalSessionKey({ ...ALICE, owner: 'bob' }),
      portalSessionKey({ ...ALICE, host: '127.0.0.1:4007' }),
      portalSessionKey({ ...ALICE, credentialsRef: 'other' }),
    ]);
    expect(keys.size).toBe(4);
    expect(portalSessionKey({ ...ALICE, host: 'Portal.Example.com' })).toBe(portalSessionKey({ ...ALICE, host: 'portal.example.com' }));
    expect(portalSessionKey(ALICE)).not.toMatch(/alice|freight|127/);
  });

  it('refuses a blob copied under another owner, portal or credentials: the encryption context is checked on open', async () => {
    const kept = sessions();
    await kept.saveSession(ALICE, STATE, log());
    const alices = store.rows.get(portalSessionKey(ALICE))!;
    for (const other of [{ ...ALICE, owner: 'mallory' }, { ...ALICE, host: 'evil.example' }, { ...ALICE, credentialsRef: 'mallory-creds' }]) {
      await store.put({ ...alices, key: portalSessionKey(other) });
      expect(await kept.restoreSession(other, log())).toBeUndefined();
    }
    expect(lines.filter((line) => line.event === 'portal-session.refused')).toHaveLength(3);
    expect(JSON.stringify(lines)).not.toContain(COOKIE_VALUE);
  });

  it('refuses a tampered blob, a blob sealed with another key and a version the row does not carry', async () => {
    const kept = sessions();
    await kept.saveSession(ALICE, STATE, log());
    const row = store.rows.get(portalSessionKey(ALICE))!;

    const flipped = new Uint8Array(row.blob);
    flipped[flipped.length - 40]! ^= 0x01;
    await store.put({ ...row, blob: flipped });
    expect(await kept.restoreSession(ALICE, log())).toBeUndefined();

    await store.put({ ...row, version: 'another-version' });
    expect(await kept.restoreSession(ALICE, log())).toBeUndefined();

    await store.put(row);
    expect(await sessions(keyFile('other.key')).restoreSession(ALICE, log())).toBeUndefined();
    expect(await kept.restoreSession(ALICE, log())).toBeDefined();
  });

  it('expires at the authenticated expiry, whatever the table attribute says', async () => {
    const kept = sessions(KEY, 60);
    await kept.saveSession(ALICE, STATE, log());
    nowMs += 59_000;
    expect(await kept.restoreSession(ALICE, log())).toBeDefined();
    nowMs += 1_000;
    expect(await kept.restoreSession(ALICE, log())).toBeUndefined();
    // Someone with write access to the table moves the TTL attribute: the sealed expiry still rules.
    const row = store.rows.get(portalSessionKey(ALICE))!;
    await store.put({ ...row, expiresAt: row.expiresAt + 86_400 });
    expect(await kept.restoreSession(ALICE, log())).toBeUndefined();
  });

  it('discards only the version it was told, never a newer session saved meanwhile', async () => {
    const kept = sessions();
    const first = await kept.saveSession(ALICE, STATE, log());
    const second = await kept.saveSession(ALICE, STATE, log());
    await kept.discardSession(ALICE, first);
    expect((await kept.restoreSession(ALICE, log()))?.version).toBe(second);
    await kept.discardSession(ALICE);
    expect(store.rows.size).toBe(0);
  });
});

describe('kept portal sessions in the runtime', () => {
  interface Portal {
    logins: number;
    rejected: number;
    /** The session the portal accepts now; an opened context carries the one it was opened with. */
    live: string | undefined;
    refuse: boolean;
  }

  /** A robot against a fake portal: a context is signed in when it holds the portal's live session id. */
  function setup(portal: Portal) {
    const jobs = new MemoryJobStore();
    const opened: Array<StorageState | undefined> = [];
    let contextSession: string | undefined;
    const robot = keysRobot({
      portalUrl: () => 'http://127.0.0.1:4006/',
      sessionCredentials: () => 'shared/freight-portal',
      login: async () => {
        if (portal.refuse) {
          portal.rejected++;
          throw businessError('LOGIN_REJECTED', 'refused');
        }
        portal.logins++;
        contextSession = portal.live = `session-${portal.logins}`;
      },
      processItem: async () => {
        if (!contextSession || contextSession !== portal.live) throw sessionEnded();
        return {};
      },
    });
    const base = idleSessions();
    const deps = fakeRuntimeDeps(robot, {
      store: jobs,
      items: new ProgressCountingItemStore(new MemoryItemStore(), jobs),
      portalSessionReuse: sessions(),
      log: log(),
      sessions: {
        open: async (policy, options) => {
          opened.push(options?.storageState);
          contextSession = options?.storageState?.cookies[0]?.value;
          const session = await base.open(policy, options);
          return { ...session, storageState: async () => ({ cookies: contextSession ? [{ ...STATE.cookies[0]!, value: contextSession }] : [], origins: [] }) };
        },
      },
    });
    const run = async (owner: string, keys = ['a', 'b', 'c']) => {
      const job = makeJob({ jobId: `job-${owner}-${opened.length}`, owner, robot: robot.name, status: 'RUNNING', input: { keys } });
      await jobs.create(job);
      const outcome = await runRobotJob(job, deps, idleAttempt()).catch((error: Error) => error);
      return { outcome, logins: toJobView((await jobs.get(job.jobId))!).logins };
    };
    return { run, opened };
  }

  it('signs in once, then later jobs of the owner start from the kept session; another owner signs in itself', async () => {
    const portal: Portal = { logins: 0, rejected: 0, live: undefined, refuse: false };
    const { run, opened } = setup(portal);

    expect(await run('alice')).toMatchObject({ outcome: { status: 'SUCCEEDED' }, logins: 1 });
    expect(await run('alice')).toMatchObject({ outcome: { status: 'SUCCEEDED' }, logins: 0 });
    expect(opened[1]?.cookies[0]?.value).toBe('session-1');
    expect(await run('bob')).toMatchObject({ outcome: { status: 'SUCCEEDED' }, logins: 1 });
    expect(opened[2]).toBeUndefined();
    expect(portal.logins).toBe(2);
  });

  it('signs in again once when the portal ended the kept session, and keeps the new one', async () => {
    const portal: Portal = { logins: 0, rejected: 0, live: undefined, refuse: false };
    const { run } = setup(portal);
    await run('alice');
    portal.live = undefined;

    expect(await run('alice')).toMatchObject({ outcome: { status: 'SUCCEEDED' }, logins: 1 });
    expect(await run('alice')).toMatchObject({ outcome: { status: 'SUCCEEDED' }, logins: 0 });
    expect(portal.logins).toBe(2);
    expect(lines.filter((line) => line.event === 'portal.session-ended')).toHaveLength(1);
  });

  it('never retries a refused login and keeps no session for refused credentials', async () => {
    const portal: Portal = { logins: 0, rejected: 0, live: undefined, refuse: false };
    const { run } = setup(portal);
    await run('alice');
    portal.live = undefined;
    portal.refuse = true;

    const { outcome } = await run('alice');
    expect(outcome).toMatchObject({ type: 'BUSINESS', code: 'LOGIN_REJECTED' });
    expect(portal.rejected).toBe(1);
    expect(store.rows.size).toBe(0);
  });
});
