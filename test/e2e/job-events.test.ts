import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { pollUntil } from '../../local/emulators/poll';
import type { JobEvent } from '../../core/job-events';
import { isTerminal, LocalClient } from '../support/local-client';
import { foreignKey, jwtPayload, signJwt } from '../security/support/api';

const outputs = inject('outputs');
const client = new LocalClient(outputs);

/** A subscriber: every frame it received, in arrival order. */
interface Subscriber {
  socket: WebSocket;
  frames: JobEvent[];
}

/** Opens an events connection the way clients do (README "Live job events"): the ID token in ?token=. */
function subscribe(token: string, jobId?: string): Promise<Subscriber> {
  const url = new URL(outputs.EventsUrl);
  url.searchParams.set('token', token);
  if (jobId) url.searchParams.set('jobId', jobId);
  const socket = new WebSocket(url);
  const frames: JobEvent[] = [];
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as JobEvent;
    if (frame.type === 'job') frames.push(frame);
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, frames }));
    socket.once('error', reject);
  });
}

/** The HTTP status the handshake was refused with (undefined: it was accepted). */
function handshakeStatus(query: string): Promise<number | undefined> {
  const socket = new WebSocket(`${outputs.EventsUrl}/${query}`);
  return new Promise((resolve) => {
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode);
      socket.terminate();
    });
    socket.once('open', () => {
      resolve(undefined);
      socket.close();
    });
    socket.once('error', () => undefined);
  });
}

/** What a client keeps: frames of one job applied in version order, stale ones dropped (as cli/follow-job.ts does). */
function applied(frames: readonly JobEvent[], jobId: string): { kept: JobEvent[]; stale: number } {
  const kept: JobEvent[] = [];
  let stale = 0;
  for (const frame of frames.filter((f) => f.job.jobId === jobId)) {
    if (kept.length && frame.version <= kept.at(-1)!.version) stale++;
    else kept.push(frame);
  }
  return { kept, stale };
}

/** Statuses in the order they were seen, repeats collapsed. */
const statusChanges = (frames: readonly JobEvent[]) => frames.map((f) => f.job.status).filter((status, i, all) => i === 0 || all[i - 1] !== status);

const INVOICES = ['500600700', '404000777', '500600701', '500600702'];

describe('live job events on the local stack', () => {
  let alice: string;
  let bob: string;
  let admin: string;
  const subscribers: Subscriber[] = [];

  beforeAll(async () => {
    [alice, bob, admin] = await Promise.all([client.signInSeeded('clients'), client.signUpAndIn('events-bob@roboport.local'), client.signInSeeded('admins')]);
  });

  afterAll(() => {
    for (const { socket } of subscribers) socket.close();
  });

  it('sends a subscriber every status change of its job in order, progress up to the total, and nothing of another tenant; an admin sees both', async () => {
    const [aliceEvents, bobEvents, adminEvents] = await Promise.all([subscribe(alice), subscribe(bob), subscribe(admin)]);
    subscribers.push(aliceEvents, bobEvents, adminEvents);

    const aliceJob = await client.api('POST', '/jobs', {
      token: alice,
      body: { robot: 'freight-pod-download', input: { portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName, invoices: INVOICES } },
    });
    const bobJob = await client.api('POST', '/jobs', { token: bob, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/article`, formats: ['png'] } } });
    expect([aliceJob.status, bobJob.status]).toEqual([202, 202]);
    const [aliceId, bobId] = [aliceJob.body.jobId as string, bobJob.body.jobId as string];
    const [aliceEnd, bobEnd] = await Promise.all([client.waitForJob(alice, aliceId, isTerminal, 90_000), client.waitForJob(bob, bobId, isTerminal, 90_000)]);
    expect([aliceEnd.status, bobEnd.status]).toEqual(['PARTIAL', 'SUCCEEDED']);

    // The last write is published as it is made; its frame may trail the GET that saw it by a moment.
    const ended = (subscriber: Subscriber, jobId: string) => subscriber.frames.some((f) => f.job.jobId === jobId && isTerminal(f.job));
    await pollUntil(() => ended(aliceEvents, aliceId) && ended(bobEvents, bobId) && ended(adminEvents, aliceId) && ended(adminEvents, bobId), {
      timeoutMs: 10_000,
      description: 'the terminal frames of both jobs',
    });

    const alices = applied(aliceEvents.frames, aliceId);
    const foreignToAlice = aliceEvents.frames.filter((f) => f.job.jobId !== aliceId).length;
    const foreignToBob = bobEvents.frames.filter((f) => f.job.jobId !== bobId).length;
    const done = alices.kept.map((f) => (f.job.progress ? f.job.progress.succeeded + f.job.progress.failed : 0));
    console.log(
      `job events: alice received ${aliceEvents.frames.length} frames (${alices.kept.length} applied, ${alices.stale} stale), ` +
        `status changes ${statusChanges(alices.kept).join('→')} (expected QUEUED→RUNNING→PARTIAL), items done ${done.join(',')} of ${INVOICES.length}; ` +
        `foreign frames seen: alice ${foreignToAlice}, bob ${foreignToBob}; admin received ${adminEvents.frames.length} (alice's ${adminEvents.frames.filter((f) => f.job.jobId === aliceId).length}, bob's ${adminEvents.frames.filter((f) => f.job.jobId === bobId).length})`,
    );

    expect(statusChanges(alices.kept)).toEqual(['QUEUED', 'RUNNING', 'PARTIAL']);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(alices.kept.at(-1)!.job.progress).toMatchObject({ total: INVOICES.length, succeeded: 3, failed: 1, pending: 0 });
    // Every item's checkpoint was seen: one frame per count from 1 to the total.
    expect(new Set(done.filter((n) => n > 0))).toEqual(new Set(INVOICES.map((_, i) => i + 1)));
    // The frame's job is the REST view without links: no owner, no internal fields.
    expect(alices.kept.at(-1)!.job).not.toHaveProperty('owner');
    expect(alices.kept.at(-1)!.job).toMatchObject({ jobId: aliceId, status: 'PARTIAL', robot: 'freight-pod-download' });
    expect(statusChanges(applied(bobEvents.frames, bobId).kept)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
    expect(foreignToAlice).toBe(0);
    expect(foreignToBob).toBe(0);
    expect(statusChanges(applied(adminEvents.frames, aliceId).kept)).toEqual(['QUEUED', 'RUNNING', 'PARTIAL']);
    expect(statusChanges(applied(adminEvents.frames, bobId).kept)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
  }, 120_000);

  it('follows one job only when the connection names it, and never someone else’s even when named', async () => {
    const submitted = await client.api('POST', '/jobs', { token: alice, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/article`, formats: ['png'] } } });
    const other = await client.api('POST', '/jobs', { token: alice, body: { robot: 'web-snapshot', input: { url: `${outputs.SandboxUrl}/article`, formats: ['pdf'] } } });
    const jobId = submitted.body.jobId as string;
    const [follower, snooper] = await Promise.all([subscribe(alice, jobId), subscribe(bob, jobId)]);
    subscribers.push(follower, snooper);
    await client.waitForJob(alice, jobId, isTerminal, 60_000);
    await client.waitForJob(alice, other.body.jobId as string, isTerminal, 60_000);
    await pollUntil(() => follower.frames.some((f) => isTerminal(f.job)), { timeoutMs: 10_000, description: 'the followed job’s terminal frame' });
    console.log(`job events, one job followed: ${follower.frames.length} frames, other jobs' frames ${follower.frames.filter((f) => f.job.jobId !== jobId).length}; bob naming alice's job received ${snooper.frames.length}`);
    expect(follower.frames.every((f) => f.job.jobId === jobId)).toBe(true);
    expect(snooper.frames).toEqual([]);
  }, 90_000);

  it('refuses the handshake with 401 without a valid ID token: missing, garbage, forged, expired, or an access token', async () => {
    const claims = jwtPayload(alice);
    const now = Math.floor(Date.now() / 1000);
    const tokens = {
      missing: '',
      garbage: '?token=not-a-jwt',
      forged: `?token=${signJwt({ ...claims, 'cognito:groups': ['admins'] }, { key: foreignKey })}`,
      expired: `?token=${signJwt({ ...claims, iat: now - 7200, exp: now - 3600 })}`,
      accessToken: `?token=${signJwt({ ...claims, token_use: 'access' })}`,
      badJobId: `?token=${alice}&jobId=..%2Fjobs`,
    };
    const statuses = Object.fromEntries(await Promise.all(Object.entries(tokens).map(async ([name, query]) => [name, await handshakeStatus(query)] as const)));
    console.log(`job events handshakes refused: ${JSON.stringify(statuses)}`);
    expect(statuses).toEqual({ missing: 401, garbage: 401, forged: 401, expired: 401, accessToken: 401, badJobId: 400 });
    expect(await handshakeStatus(`?token=${alice}`)).toBeUndefined();
  });
});
