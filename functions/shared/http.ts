import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ENV } from '../../core/env-names';
import { DomainError, InputInvalid, PayloadTooLarge, Unauthorized, UnsupportedMediaType } from '../../core/errors';
import { ADMINS_GROUP, type Caller } from '../../core/job';
import { logger, observability } from './observability';

/** Job submissions carry their input inline; larger data belongs in a spreadsheet upload or S3. */
export const MAX_JSON_BODY_BYTES = 256 * 1024;

/** The console's origin: with Lambda proxy integrations the handler must send CORS headers itself. */
const CORS_ALLOWED_ORIGIN = process.env[ENV.corsAllowedOrigin];

const RESPONSE_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  ...(CORS_ALLOWED_ORIGIN ? { 'access-control-allow-origin': CORS_ALLOWED_ORIGIN, vary: 'Origin' } : {}),
};

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { ...RESPONSE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** 204: done, nothing to return. */
export function noContent(): APIGatewayProxyResult {
  const { 'content-type': _contentType, ...headers } = RESPONSE_HEADERS;
  return { statusCode: 204, headers, body: '' };
}

/**
 * Maps every error to the JSON error shape `{error: {code, message, details}}`. Domain errors
 * (< 500) carry their message; anything else is logged and answered with a generic 500.
 */
export function httpErrors(): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  const onError: middy.MiddlewareFn<APIGatewayProxyEvent, APIGatewayProxyResult> = async (request) => {
    const error = request.error;
    if (error instanceof DomainError) {
      const exposed = error.statusCode < 500;
      if (!exposed) logger.error('request failed', { path: request.event.path, code: error.code, error: error.cause instanceof Error ? error.cause : error });
      request.response = json(error.statusCode, {
        error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) },
      });
      return;
    }
    logger.error('unhandled error', { path: request.event.path, error: error instanceof Error ? error : String(error) });
    request.response = json(500, { error: { code: 'INTERNAL_ERROR', message: 'Internal error' } });
  };
  return { onError };
}

/** The caller as the Cognito authorizer saw them; a missing claim means no valid token. */
export function callerOf(event: APIGatewayProxyEvent): Caller {
  const claims = event.requestContext.authorizer?.claims as Record<string, unknown> | undefined;
  const sub = claims?.sub;
  if (typeof sub !== 'string' || sub === '') throw new Unauthorized('A valid token is required');
  return { sub, isAdmin: groupsOf(claims?.['cognito:groups']).includes(ADMINS_GROUP) };
}

/** The caller of verified ID token claims (the WebSocket authorizers' view of callerOf); undefined without a `sub`. */
export function callerOfClaims(claims: Record<string, unknown>): Caller | undefined {
  const sub = claims.sub;
  return typeof sub === 'string' && sub !== '' ? { sub, isAdmin: groupsOf(claims['cognito:groups']).includes(ADMINS_GROUP) } : undefined;
}

/**
 * The caller's groups. API Gateway's Cognito authorizer hands every claim over as a string: the
 * token's array becomes its names space-separated in brackets ("[admins clients]"), a single
 * group may come bare ("admins"). Cognito group names cannot hold white space (CreateGroup:
 * `[\p{L}\p{M}\p{S}\p{N}\p{P}]+`) but may hold commas and brackets, so white space is the only
 * separator: a group named "x,admins" or "[x,admins]" stays one group and never reads as admins.
 */
export function groupsOf(claim: unknown): string[] {
  if (Array.isArray(claim)) return claim.filter((group): group is string => typeof group === 'string');
  if (typeof claim !== 'string') return [];
  const listed = /^\[(.*)\]$/s.exec(claim);
  return listed ? listed[1]!.split(/\s+/).filter(Boolean) : claim === '' ? [] : [claim];
}

export function headerOf(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  const entry = Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === wanted);
  return entry?.[1] ?? undefined;
}

export function bodyBytes(event: APIGatewayProxyEvent): Buffer {
  if (!event.body) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

/** Parses a JSON request body, refusing other media types, oversized bodies and malformed JSON. */
export function jsonBodyOf(event: APIGatewayProxyEvent): unknown {
  const contentType = headerOf(event, 'content-type') ?? '';
  if (!/^application\/json\b/i.test(contentType)) {
    throw new UnsupportedMediaType('Send the body as application/json');
  }
  const bytes = bodyBytes(event);
  if (bytes.length > MAX_JSON_BODY_BYTES) {
    throw new PayloadTooLarge(`Body is ${bytes.length} bytes; the limit is ${MAX_JSON_BODY_BYTES}`);
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InputInvalid('Body is not valid JSON', { reason: (error as Error).message });
  }
}

/** Longest id a path may name; ids are UUIDs, so anything longer names nothing. */
const MAX_PATH_PARAM_LENGTH = 256;

/**
 * A path parameter as the route's handler may use it as a key. API Gateway decodes percent
 * escapes, but may hand a malformed one over raw: what is not a plausible id (empty, too long,
 * control characters, a lone UTF-16 surrogate, a leftover `%`) is a 400, never a key sent to the store.
 */
export function pathParam(event: APIGatewayProxyEvent, name: string): string {
  const value = event.pathParameters?.[name] ?? '';
  if (value.length === 0 || value.length > MAX_PATH_PARAM_LENGTH || /[\p{Cc}\p{Cs}%]/u.test(value)) {
    throw new InputInvalid(`Path parameter ${name} is malformed`, { fields: [{ field: name, message: `must be an id of at most ${MAX_PATH_PARAM_LENGTH} characters` }] });
  }
  return value;
}

type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/** Every API route: middleware first, handler last. */
export function apiHandler(handler: ApiHandler) {
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(observability<APIGatewayProxyEvent, APIGatewayProxyResult>())
    .use(httpErrors())
    .handler(handler);
}
