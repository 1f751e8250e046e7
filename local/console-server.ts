import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import path from 'node:path';
import { type ConsoleConfig, consoleContentSecurityPolicy } from '../lib/console-settings';
import { closeServer, listenOnLoopback } from './emulators/http-server';

/**
 * The admin console locally, as CloudFront serves it in AWS: the static files of console/, a
 * generated config.json and the same security headers. Files are read on every request, so an
 * edit shows on reload.
 */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

export interface ConsoleServerOptions {
  consoleDir: string;
  port?: number;
}

export interface ConsoleServer {
  /** The console's origin, e.g. http://127.0.0.1:4001: the API allows it for CORS. */
  url: string;
  /**
   * Sets what config.json says. Separate from start because the API needs the console's origin
   * before it starts and the console needs the API's URL; until then every request gets a 503.
   */
  configure(config: ConsoleConfig): void;
  close(): Promise<void>;
}

export async function startConsoleServer({ consoleDir, port = 0 }: ConsoleServerOptions): Promise<ConsoleServer> {
  // Only the files present at start, by exact name: no path from a request ever reaches the file system.
  const files = new Map(
    readdirSync(consoleDir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && CONTENT_TYPES[path.extname(entry.name)])
      .map((entry) => [`/${entry.name}`, path.join(consoleDir, entry.name)]),
  );
  let config: ConsoleConfig | undefined;
  let headers: Record<string, string> = {};

  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://console').pathname;
    if (!config) return send(res, 503, { 'content-type': 'text/plain' }, 'The console is starting');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { ...headers, allow: 'GET, HEAD' }, '');
    if (pathname === '/config.json') return send(res, 200, { ...headers, 'content-type': CONTENT_TYPES['.json']! }, JSON.stringify(config));
    const file = files.get(pathname === '/' ? '/index.html' : pathname);
    if (!file) return send(res, 404, { ...headers, 'content-type': 'text/plain' }, 'Not found');
    readFile(file).then(
      (body) => send(res, 200, { ...headers, 'content-type': CONTENT_TYPES[path.extname(file)]! }, body),
      () => send(res, 404, { ...headers, 'content-type': 'text/plain' }, 'Not found'),
    );
  });
  const url = await listenOnLoopback(server, port);
  return {
    url,
    configure(next) {
      config = next;
      headers = securityHeaders(next);
    },
    close: () => closeServer(server),
  };
}

/** The headers of the CloudFront response headers policy (lib/console.ts), minus HSTS on http. */
function securityHeaders(config: ConsoleConfig): Record<string, string> {
  return {
    'content-security-policy': consoleContentSecurityPolicy(config),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    // Small unfingerprinted files: always revalidate, so a changed console is picked up at once.
    'cache-control': 'no-cache',
  };
}

/** Node leaves the body out of answers to HEAD by itself. */
function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  res.writeHead(status, headers).end(body);
}
