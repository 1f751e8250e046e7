import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { PUBLISH_KEY_HEADER } from '../core/adapters/http-job-change-publisher';
import type { Caller, Job } from '../core/job';
import {
  clientMessageSchema,
  fanOutJobEvent,
  subscriptionJobIdSchema,
  type EventConnection,
  type EventConnectionStore,
  type EventSender,
} from '../core/job-events';
import { callerOfClaims } from '../functions/shared/http';
import type { VerifyIdToken } from './api-gateway';
import { closeServer, listenOnLoopback } from './emulators/http-server';

/** Path the job stores post written jobs to (core/adapters/http-job-change-publisher.ts). */
const PUBLISH_PATH = '/__publish';
/** A published job is at most one DynamoDB item (400 KB). */
const MAX_PUBLISH_BYTES = 400 * 1024;
/** Client messages are tiny; API Gateway's own frame limit is 128 KB. */
const MAX_CLIENT_MESSAGE_BYTES = 4 * 1024;

export interface LocalEventsServer {
  /** ws://127.0.0.1:port: the EventsUrl output. */
  url: string;
  /** Where job stores post every job they write, and the key they must show. */
  publishUrl: string;
  publishKey: string;
  close(): Promise<void>;
}

export interface LocalEventsOptions {
  verifyIdToken: VerifyIdToken;
  port?: number;
}

/**
 * The live job events of the WebSocket API (lib/job-events.ts) on 127.0.0.1: the same handshake
 * (ID token in `?token=`, optional `?jobId=`; 401 before the upgrade when the token is missing,
 * forged or expired), the same frames and the same fan-out (core/job-events.ts). DynamoDB streams
 * do not exist here, so every process's job store posts each job it writes to PUBLISH_PATH.
 */
export async function startLocalEventsServer(options: LocalEventsOptions): Promise<LocalEventsServer> {
  const publishKey = randomBytes(32).toString('base64url');
  const connections = new MemoryConnections();
  const fanOut = { connections, sender: connections, onSendError: (id: string, error: unknown) => process.stderr.write(`local events: send to ${id} failed: ${String(error)}\n`) };
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES });

  const server = createServer((req, res) => {
    acceptPublished(req, res, publishKey, (job) => fanOutJobEvent(fanOut, job)).catch((error: unknown) => {
      process.stderr.write(`local events: ${String(error)}\n`);
      if (!res.headersSent) reply(res, 500);
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void upgrade(req, socket, head);
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    const jobId = subscriptionJobIdSchema.safeParse(url.searchParams.get('jobId') ?? undefined);
    if (!jobId.success) return refuse(socket, 400, 'jobId must be a job id');
    const caller = await callerOfToken(url.searchParams.get('token'), options.verifyIdToken);
    if (!caller) return refuse(socket, 401, 'A valid ID token is required in the token query parameter');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connectionId = randomUUID();
      connections.add({ connectionId, caller, ...(jobId.data ? { jobId: jobId.data } : {}) }, ws);
      ws.on('message', (data) => {
        const message = clientMessageSchema.safeParse(parseJson(data.toString()));
        if (!message.success) return ws.send(JSON.stringify({ type: 'error', message: 'Unknown message; send {"action":"subscribe","jobId"?} or {"action":"ping"}' }));
        if (message.data.action === 'subscribe') connections.subscribe(connectionId, message.data.jobId);
        else ws.send(JSON.stringify({ type: 'pong' }));
      });
      ws.on('close', () => void connections.remove(connectionId));
    });
  }

  const url = await listenOnLoopback(server, options.port);
  return {
    url: url.replace(/^http:/, 'ws:'),
    publishUrl: `${url}${PUBLISH_PATH}`,
    publishKey,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

/** The caller of a valid ID token (claims read as the REST API reads them), or undefined. */
async function callerOfToken(token: string | null, verify: VerifyIdToken): Promise<Caller | undefined> {
  if (!token) return undefined;
  try {
    return callerOfClaims(await verify(token));
  } catch {
    return undefined;
  }
}

async function acceptPublished(req: IncomingMessage, res: ServerResponse, key: string, publish: (job: Job) => Promise<unknown>): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'POST' || url.pathname !== PUBLISH_PATH) return reply(res, 404);
  const shown = Buffer.from(String(req.headers[PUBLISH_KEY_HEADER] ?? ''));
  if (shown.length !== key.length || !timingSafeEqual(shown, Buffer.from(key))) return reply(res, 403);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_PUBLISH_BYTES) return reply(res, 413);
    chunks.push(chunk);
  }
  const job = parseJson(Buffer.concat(chunks).toString('utf8')) as Job | undefined;
  if (!job || typeof job.jobId !== 'string' || typeof job.owner !== 'string') return reply(res, 400);
  // Answered once the frames are handed to the sockets, so the writer's next write is published after this one.
  await publish(job);
  reply(res, 204);
}

function reply(res: ServerResponse, status: number): void {
  res.writeHead(status).end();
}

function refuse(socket: Duplex, status: 401 | 400, message: string): void {
  const body = JSON.stringify({ error: { code: status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST', message } });
  const reason = status === 401 ? 'Unauthorized' : 'Bad Request';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The open connections of this process, and the sender that writes to their sockets. */
class MemoryConnections implements EventConnectionStore, EventSender {
  private readonly open = new Map<string, { connection: EventConnection; socket: WebSocket }>();

  add(connection: EventConnection, socket: WebSocket): void {
    this.open.set(connection.connectionId, { connection, socket });
  }

  subscribe(connectionId: string, jobId: string | undefined): void {
    const entry = this.open.get(connectionId);
    if (!entry) return;
    const { jobId: _previous, ...rest } = entry.connection;
    entry.connection = { ...rest, ...(jobId ? { jobId } : {}) };
  }

  audience(owner: string): Promise<EventConnection[]> {
    const matching = [...this.open.values()].map(({ connection }) => connection).filter(({ caller }) => caller.isAdmin || caller.sub === owner);
    return Promise.resolve(matching);
  }

  remove(connectionId: string): Promise<void> {
    this.open.delete(connectionId);
    return Promise.resolve();
  }

  send(connectionId: string, frame: string): Promise<'sent' | 'gone'> {
    const socket = this.open.get(connectionId)?.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.resolve('gone');
    socket.send(frame);
    return Promise.resolve('sent');
  }
}
