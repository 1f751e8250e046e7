import WebSocket from 'ws';
import type { ApiClient } from './api-client';
import { isTerminal, type JobView } from '../core/job';

export interface FollowOptions {
  /** Use the live event stream (EventsUrl) when the stack has one. */
  events: boolean;
  pollIntervalMs: number;
  onUpdate(job: JobView): void;
  note(message: string): void;
}

/** How long the stream's handshake may take before watch polls instead. */
const CONNECT_TIMEOUT_MS = 5_000;
/** API Gateway closes idle WebSocket connections after 10 minutes. */
const PING_INTERVAL_MS = 60_000;

/**
 * Follows a job to its end and returns its final state: from the live event stream
 * (`EventsUrl`: `{type: "job", version, job}` frames, core/job-events.ts) when it can connect, by
 * polling GET /jobs/{jobId} when it cannot or when the stream drops.
 */
export async function followJob(api: ApiClient, jobId: string, options: FollowOptions): Promise<JobView> {
  const path = `/jobs/${encodeURIComponent(jobId)}`;
  const stream = options.events ? await connectEvents(api, jobId, options.note) : undefined;
  try {
    // Read after subscribing, so that no change falls between the read and the first event.
    const job = await api.get<JobView>(path);
    options.onUpdate(job);
    if (isTerminal(job.status)) return job;
    if (stream && (await eventsUntilEnd(stream, jobId, options)) === 'ended') return await api.get<JobView>(path);
  } finally {
    stream?.close();
  }
  return poll(api, path, options);
}

async function poll(api: ApiClient, path: string, options: FollowOptions): Promise<JobView> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs));
    const job = await api.get<JobView>(path);
    options.onUpdate(job);
    if (isTerminal(job.status)) return job;
  }
}

async function connectEvents(api: ApiClient, jobId: string, note: (message: string) => void): Promise<WebSocket | undefined> {
  const eventsUrl = api.target.outputs.EventsUrl;
  if (!eventsUrl) {
    note('This stack has no live event stream (no EventsUrl output): polling.');
    return undefined;
  }
  const session = await api.session();
  if (session.kind !== 'user') return undefined;
  const url = new URL(eventsUrl);
  url.searchParams.set('token', session.idToken);
  url.searchParams.set('jobId', jobId);
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { handshakeTimeout: CONNECT_TIMEOUT_MS });
    const fail = (reason: string) => {
      note(`Live events unavailable (${reason}): polling.`);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      resolve(undefined);
    };
    socket.once('open', () => {
      socket.removeAllListeners();
      note('Following live job events.');
      resolve(socket);
    });
    socket.once('unexpected-response', (_request, response) => fail(`handshake answered ${response.statusCode}`));
    socket.once('error', (error) => fail(error.message));
  });
}

/** Applies the stream's job events in version order until the job ends ('ended') or the stream drops ('lost'). */
function eventsUntilEnd(socket: WebSocket, jobId: string, options: FollowOptions): Promise<'ended' | 'lost'> {
  return new Promise((resolve) => {
    let version = -Infinity;
    const ping = setInterval(() => socket.send(JSON.stringify({ action: 'ping' })), PING_INTERVAL_MS);
    const done = (outcome: 'ended' | 'lost') => {
      clearInterval(ping);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      if (outcome === 'lost') options.note('Live events lost: polling.');
      resolve(outcome);
    };
    socket.on('message', (data) => {
      const event = parseEvent(data.toString());
      if (!event || event.job.jobId !== jobId || event.version <= version) return;
      version = event.version;
      options.onUpdate(event.job);
      if (isTerminal(event.job.status)) done('ended');
    });
    socket.once('close', () => done('lost'));
    socket.once('error', () => done('lost'));
  });
}

function parseEvent(text: string): { version: number; job: JobView } | undefined {
  try {
    const event = JSON.parse(text) as { type?: unknown; version?: unknown; job?: JobView };
    return event.type === 'job' && typeof event.version === 'number' && event.job && typeof event.job.jobId === 'string' ? { version: event.version, job: event.job } : undefined;
  } catch {
    return undefined;
  }
}
