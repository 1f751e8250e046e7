import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpWebhookSender } from '../../core/adapters/http-webhook-sender';
import { closeServer, listenOnLoopback } from '../../local/emulators/http-server';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await closeServer(server);
});

/** A loopback receiver, allowlisted for the sender like the local sandbox is. */
async function receiver(listener: RequestListener): Promise<{ url: string; sender: HttpWebhookSender }> {
  const server = createServer(listener);
  servers.push(server);
  const url = await listenOnLoopback(server, 0);
  return { url, sender: new HttpWebhookSender({ allowHosts: [new URL(url).host], timeoutMs: 500 }) };
}

describe('HttpWebhookSender against a real HTTP server', () => {
  it('POSTs the body and headers as given and answers the status', async () => {
    let received: { method?: string; headers?: IncomingHttpHeaders; body?: string } = {};
    const { url, sender } = await receiver(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      received = { method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      res.writeHead(202).end();
    });
    await expect(sender.post(`${url}/hook`, '{"ü":1}', { 'content-type': 'application/json', 'roboport-event': 'job.finished' })).resolves.toEqual({ status: 202 });
    expect(received).toMatchObject({ method: 'POST', body: '{"ü":1}', headers: { 'roboport-event': 'job.finished', 'content-length': '8' } });
  });

  it('does not follow a redirect (here: to the cloud metadata address)', async () => {
    const { url, sender } = await receiver((_req, res) => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end());
    await expect(sender.post(`${url}/hook`, '{}', {})).resolves.toEqual({ status: 302 });
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const { url, sender } = await receiver(() => undefined);
    const started = Date.now();
    await expect(sender.post(`${url}/hook`, '{}', {})).rejects.toThrow('no response within 500 ms');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses the same loopback receiver when it is not allowlisted', async () => {
    const { url } = await receiver((_req, res) => res.writeHead(200).end());
    const unlisted = new HttpWebhookSender({ allowHosts: [], timeoutMs: 500 });
    await expect(unlisted.post(`${url}/hook`, '{}', {})).resolves.toEqual({ refused: expect.stringContaining('loopback') });
  });
});
