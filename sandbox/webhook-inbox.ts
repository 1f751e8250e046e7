import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A webhook receiver for local runs and tests, served by the sandbox site:
 *   POST /webhook-inbox/{id}[?fail=N[&status=S]]  records the delivery (raw body, headers) and
 *       answers 200, or S (default 500) to the first N calls of that inbox, to exercise retries
 *   GET  /webhook-inbox/{id}                      the calls so far, oldest first
 * In memory and bounded: the oldest inbox goes when there are too many.
 */
export interface CapturedDelivery {
  receivedAt: string;
  headers: Record<string, string>;
  /** The body exactly as received (signatures are computed over these bytes). */
  body: string;
  /** What the inbox answered. */
  status: number;
}

const PATH = /^\/webhook-inbox\/([A-Za-z0-9_-]{1,64})$/;
const MAX_INBOXES = 200;
const MAX_DELIVERIES_PER_INBOX = 50;
const MAX_BODY_BYTES = 256 * 1024;

export class WebhookInbox {
  private readonly inboxes = new Map<string, CapturedDelivery[]>();

  /** Answers the request if it is for the inbox; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const id = PATH.exec(url.pathname)?.[1];
    if (!id) return false;
    if (req.method === 'GET') sendJson(res, 200, { deliveries: this.inboxes.get(id) ?? [] });
    else if (req.method === 'POST') void this.receive(id, req, res, url);
    else sendJson(res, 405, { error: 'use GET or POST' });
    return true;
  }

  private async receive(id: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return sendJson(res, 413, { error: 'body too large' });
      chunks.push(chunk as Buffer);
    }
    const deliveries = this.inbox(id);
    const failures = Number(url.searchParams.get('fail') ?? 0);
    const status = deliveries.length < failures ? failureStatus(url.searchParams.get('status')) : 200;
    if (deliveries.length < MAX_DELIVERIES_PER_INBOX) {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, [value ?? ''].flat().join(', ')]));
      deliveries.push({ receivedAt: new Date().toISOString(), headers, body: Buffer.concat(chunks).toString('utf8'), status });
    }
    sendJson(res, status, { received: status === 200 });
  }

  private inbox(id: string): CapturedDelivery[] {
    let deliveries = this.inboxes.get(id);
    if (!deliveries) {
      const oldest = this.inboxes.keys().next();
      if (this.inboxes.size >= MAX_INBOXES && !oldest.done) this.inboxes.delete(oldest.value);
      deliveries = [];
      this.inboxes.set(id, deliveries);
    }
    return deliveries;
  }
}

/** A non-2xx status to fail with: ?status=S when it is 300-599, else 500. */
function failureStatus(requested: string | null): number {
  const status = Number(requested);
  return Number.isInteger(status) && status >= 300 && status <= 599 ? status : 500;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
