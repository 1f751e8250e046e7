import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { API_ROUTES, type ApiRoute } from '../functions/api/routes';
import { closeServer, listenOnLoopback } from './emulators/http-server';

/**
 * API Gateway REST emulation: the routes of functions/api/routes.ts, dispatched to the same
 * handler modules the Lambdas run, behind a JWT check that behaves like the Cognito user pool
 * authorizer (ID token in `Authorization`, claims handed to the handler in requestContext).
 */
export type VerifyIdToken = (token: string) => Promise<Record<string, unknown>>;

type LambdaHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** API Gateway's own payload limit. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

interface LoadedRoute extends ApiRoute {
  pattern: RegExp;
  paramNames: string[];
  handler: LambdaHandler;
}

export interface LocalApiOptions {
  repoRoot: string;
  verifyIdToken: VerifyIdToken;
  port?: number;
  /** Origin allowed to call the API from a browser (the console). */
  corsOrigin?: string;
}

export async function startLocalApi(options: LocalApiOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const routes = await Promise.all(API_ROUTES.map((route) => loadRoute(options.repoRoot, route)));
  const server = createServer((req, res) => {
    serve(routes, options, req, res).catch((error: unknown) => {
      process.stderr.write(`local api: ${String(error)}\n`);
      if (!res.headersSent) send(res, 502, { error: { code: 'BAD_GATEWAY', message: 'Handler failed' } }, options.corsOrigin);
    });
  });
  // Requests node:http cannot parse (bad request line or headers, a body cut short of its
  // Content-Length) get the API's error shape too, rather than Node's bare "400 Bad Request".
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || (error.code === 'ECONNRESET' && !socket.readable)) return socket.destroy();
    const [status, reason, message] =
      error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'Request headers are too large'] : [400, 'Bad Request', 'The request is not valid HTTP'];
    const body = JSON.stringify({ error: { code: status === 431 ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST', message } });
    const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', ...GATEWAY_RESPONSE_HEADERS };
    socket.end(`HTTP/1.1 ${status} ${reason}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n${body}`);
  });
  const url = await listenOnLoopback(server, options.port);
  return { url, server, close: () => closeServer(server) };
}

async function loadRoute(repoRoot: string, route: ApiRoute): Promise<LoadedRoute> {
  const module = (await import(pathToFileURL(path.join(repoRoot, route.entry)).href)) as { handler: LambdaHandler };
  const paramNames: string[] = [];
  const pattern = new RegExp(
    `^${route.path.replace(/\{(\w+)\}/g, (_match, name: string) => {
      paramNames.push(name);
      return '([^/]+)';
    })}$`,
  );
  return { ...route, pattern, paramNames, handler: module.handler };
}

async function serve(routes: LoadedRoute[], options: LocalApiOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = URL.canParse(req.url ?? '/', 'http://localhost') ? new URL(req.url ?? '/', 'http://localhost') : undefined;
  if (!url) return send(res, 400, { error: { code: 'BAD_REQUEST', message: 'The request target is not a valid path' } }, options.corsOrigin);
  if (req.method === 'OPTIONS') return send(res, 204, undefined, options.corsOrigin);

  const matches = routes.filter((route) => route.pattern.test(url.pathname));
  const route = matches.find((candidate) => candidate.method === req.method);
  if (!route) {
    const status = matches.length ? 405 : 404;
    return send(res, status, { error: { code: status === 405 ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', message: `No route ${req.method} ${url.pathname}` } }, options.corsOrigin);
  }

  const body = await readBody(req, MAX_PAYLOAD_BYTES);
  if (body === 'too-large') return send(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE', message: 'Request body exceeds 10 MB' } }, options.corsOrigin);
  if (body === 'cut-short') return send(res, 400, { error: { code: 'BAD_REQUEST', message: 'The request body ended before its declared length' } }, options.corsOrigin);

  let claims: Record<string, unknown> | undefined;
  if (route.authorized) {
    claims = await authorize(req.headers.authorization, options.verifyIdToken);
    if (!claims) return send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'A valid token is required' } }, options.corsOrigin);
  }

  const values = decodePathValues(route.pattern.exec(url.pathname)!.slice(1));
  if (!values) return send(res, 400, { error: { code: 'BAD_REQUEST', message: 'The path holds a malformed percent-encoding' } }, options.corsOrigin);
  const event = toProxyEvent(req, url, route, body, claims, Object.fromEntries(route.paramNames.map((name, i) => [name, values[i] ?? ''])));
  const result = await route.handler(event, lambdaContext(route.id));
  res.writeHead(result.statusCode, { ...corsHeaders(options.corsOrigin), ...(result.headers as Record<string, string> | undefined) });
  res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
}

/**
 * Path parameter values percent-decoded, or undefined when one holds a malformed escape
 * (`%ZZ`, an overlong or surrogate UTF-8 sequence such as `%C0%AF` or `%ED%A0%80`).
 */
export function decodePathValues(raw: readonly string[]): string[] | undefined {
  try {
    return raw.map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** `Authorization: Bearer <token>`; any other form carries no token. */
const BEARER = /^Bearer +([^\s]+) *$/i;

/** Claims as the Cognito authorizer passes them: the groups array as a string, see groupsOf (functions/shared/http.ts). */
export async function authorize(header: string | undefined, verify: VerifyIdToken): Promise<Record<string, unknown> | undefined> {
  const token = BEARER.exec(header ?? '')?.[1];
  if (!token) return undefined;
  try {
    const claims = await verify(token);
    const groups = claims['cognito:groups'];
    return { ...claims, ...(Array.isArray(groups) ? { 'cognito:groups': groups.length === 1 ? String(groups[0]) : `[${groups.join(' ')}]` } : {}) };
  } catch {
    return undefined;
  }
}

function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  route: LoadedRoute,
  body: Buffer,
  claims: Record<string, unknown> | undefined,
  pathParameters: Record<string, string>,
): APIGatewayProxyEvent {
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
  const query = Object.fromEntries(url.searchParams.entries());
  const isText = /^(application\/json|text\/)/i.test(headers['content-type'] ?? '');
  return {
    resource: route.path,
    path: url.pathname,
    httpMethod: route.method,
    headers,
    multiValueHeaders: {},
    queryStringParameters: Object.keys(query).length ? query : null,
    multiValueQueryStringParameters: null,
    pathParameters: route.paramNames.length ? pathParameters : null,
    stageVariables: null,
    body: body.length ? body.toString(isText ? 'utf8' : 'base64') : null,
    isBase64Encoded: body.length > 0 && !isText,
    requestContext: {
      requestId: randomUUID(),
      resourcePath: route.path,
      httpMethod: route.method,
      path: url.pathname,
      stage: 'local',
      ...(claims ? { authorizer: { claims } } : {}),
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

function lambdaContext(functionName: string): Context {
  return { functionName, awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 29_000 } as unknown as Context;
}

/** The whole body; `cut-short` when the client stops sending before its Content-Length (the stream aborts). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'cut-short'> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) return 'too-large';
      chunks.push(chunk as Buffer);
    }
  } catch {
    return 'cut-short';
  }
  return Buffer.concat(chunks);
}

function corsHeaders(origin: string | undefined): Record<string, string> {
  return origin
    ? {
        'access-control-allow-origin': origin,
        'access-control-allow-headers': 'authorization,content-type,idempotency-key',
        'access-control-allow-methods': 'GET,POST,PUT,DELETE,OPTIONS',
      }
    : {};
}

/** The gateway's own answers (401, 404, 400 ...): never cached, never sniffed, like the handlers' (lib/api.ts GatewayResponses). */
const GATEWAY_RESPONSE_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

function send(res: ServerResponse, status: number, body: unknown, corsOrigin: string | undefined): void {
  res.writeHead(status, {
    ...corsHeaders(corsOrigin),
    ...GATEWAY_RESPONSE_HEADERS,
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
  });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}
