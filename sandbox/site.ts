import { createServer, type Server } from 'node:http';
import { closeServer, listenOnLoopback } from '../local/emulators/http-server';
import { WebhookInbox } from './webhook-inbox';

/**
 * The sandbox website robots automate locally and in tests: a few plain pages, a 404, a
 * redirect to the cloud metadata address that the egress guard must refuse, and a webhook
 * inbox (sandbox/webhook-inbox.ts).
 */
const PAGES: Record<string, { title: string; body: string }> = {
  '/': {
    title: 'Roboport sandbox',
    body: `<p>This site exists for robots to automate.</p>
<ul><li><a href="/article">An article</a></li><li><a href="/missing">A missing page</a></li></ul>`,
  },
  '/article': {
    title: 'Proof of delivery explained',
    body: `<p>A proof of delivery (POD) is the document a carrier returns once goods are delivered.</p>
<table><tr><th>Invoice</th><th>Delivered</th></tr><tr><td>123456</td><td>2026-11-20</td></tr></table>`,
  },
};

function render(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em}</style>
</head><body><h1>${title}</h1>${body}</body></html>`;
}

export async function startSandboxSite(port = 0): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const webhookInbox = new WebhookInbox();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname;
    if (webhookInbox.handle(req, res, url)) return;
    if (path === '/slow') {
      // A page that takes a while: lets tests catch a job while it runs (capped at 30 s).
      const delayMs = Math.min(Number(url.searchParams.get('ms')) || 5000, 30_000);
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(render('Slow page', `<p>Served after ${delayMs} ms.</p>`)), delayMs);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    if (path === '/redirect-to-metadata') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      return;
    }
    const page = PAGES[path];
    res.writeHead(page ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page ? render(page.title, page.body) : render('Not found', `<p>No page at ${path.replace(/[<>&"]/g, '')}</p>`));
  });
  const url = await listenOnLoopback(server, port);
  return { url, server, close: () => closeServer(server) };
}
