import { appendFileSync } from 'node:fs';
import { createPrivateKey, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { request as httpRequest } from 'node:http';

/** One request as the suite sends it: raw path and query, any header, any body bytes. */
export interface RawRequest {
  method: string;
  /** Path and query exactly as sent, escapes and all (`/jobs/%ZZ?limit=x`). */
  target: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}

/**
 * Sends the request with node:http, which (unlike fetch) leaves the path as written: malformed
 * percent escapes, overlong UTF-8 and odd methods reach the gateway as they are.
 */
export function send(apiUrl: string, { method, target, headers = {}, body }: RawRequest, timeoutMs = 30_000): Promise<RawResponse> {
  const url = new URL(apiUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path: target, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${target} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Why the response is not an error in the documented shape `{"error": {"code", "message", "details"?}}`
 * (JSON, code a SCREAMING_SNAKE string, message a string, nothing else); undefined when it is.
 */
export function shapeProblem(response: RawResponse): string | undefined {
  if (response.status < 400) return undefined;
  if (!String(response.headers['content-type'] ?? '').startsWith('application/json')) return `content-type ${String(response.headers['content-type'])}`;
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    return 'body is not JSON';
  }
  if (!isObject(body) || Object.keys(body).join() !== 'error' || !isObject(body.error)) return 'body is not {"error": {...}}';
  const { code, message, ...rest } = body.error;
  if (typeof code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(code)) return `error.code ${JSON.stringify(code)}`;
  if (typeof message !== 'string' || message === '') return 'error.message is not a string';
  const extra = Object.keys(rest).filter((key) => key !== 'details');
  return extra.length ? `error has ${extra.join(', ')}` : undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Runs `tasks` with at most `concurrency` at once, in order of start. */
export async function inBatches<T>(tasks: ReadonlyArray<() => Promise<T>>, concurrency: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks.length) {
        const index = next++;
        results[index] = await tasks[index]!();
      }
    }),
  );
  return results;
}

/** Adds this file's figures to the suite's summary (printed by global-setup's teardown). */
export function recordFigures(file: string, figures: Record<string, number>): void {
  appendFileSync(file, `${JSON.stringify(figures)}\n`);
}

/** The key cognito-local signs its tokens with: tokens the local pool would have issued. */
const cognitoLocalKey: KeyObject = createPrivateKey(
  (createRequire(import.meta.url)('cognito-local/lib/keys/cognitoLocal.private.json') as { pem: string }).pem,
);
/** Another RSA key: signatures the pool's JWKS cannot verify. */
export const foreignKey: KeyObject = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An RS256 JWT with cognito-local's key id, signed with `key` (the pool's own by default). */
export function signJwt(payload: Record<string, unknown>, { key = cognitoLocalKey, header = {} }: { key?: KeyObject; header?: Record<string, unknown> } = {}): string {
  const signingInput = `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'CognitoLocal', ...header })}.${b64url(payload)}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(key).toString('base64url');
  return `${signingInput}.${signature}`;
}

export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export { b64url };
