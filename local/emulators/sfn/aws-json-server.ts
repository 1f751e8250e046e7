import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SfnApiError } from './api-error';

/** One API action: the parsed JSON request in, the JSON response out; SfnApiError for AWS errors. */
export type AwsJsonAction = (request: Record<string, unknown>) => object | Promise<object>;

const CONTENT_TYPE = 'application/x-amz-json-1.0';

/**
 * An HTTP server speaking the AWS JSON 1.0 protocol: POST /, `X-Amz-Target: <prefix>.<Action>`.
 * Errors are answered with HTTP 400 and `{ "__type": code, "message": ... }`, which the SDK maps to
 * exceptions by name.
 */
export function createAwsJsonServer(targetPrefix: string, actions: Record<string, AwsJsonAction>): Server {
  return createServer((request, response) => {
    void handle(request, targetPrefix, actions).then(
      (body) => respond(response, 200, body),
      (error: unknown) => respond(response, ...errorResponse(error)),
    );
  });
}

async function handle(request: IncomingMessage, targetPrefix: string, actions: Record<string, AwsJsonAction>): Promise<object> {
  const target = String(request.headers['x-amz-target'] ?? '');
  const action = target.startsWith(`${targetPrefix}.`) ? actions[target.slice(targetPrefix.length + 1)] : undefined;
  if (request.method !== 'POST' || !action) {
    throw new SfnApiError('UnknownOperationException', `Unknown operation ${request.method} ${target}`);
  }
  return action(await readJson(request));
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new SfnApiError('SerializationException', 'Request body is not JSON');
  }
}

function errorResponse(error: unknown): [number, object] {
  if (error instanceof SfnApiError) return [400, { __type: error.type, message: error.message }];
  return [500, { __type: 'InternalFailure', message: error instanceof Error ? error.message : String(error) }];
}

function respond(response: ServerResponse, statusCode: number, body: object): void {
  response.writeHead(statusCode, { 'content-type': CONTENT_TYPE }).end(JSON.stringify(body));
}
