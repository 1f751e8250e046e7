import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * An error an emulated AWS API returns to its caller. `type` is the AWS error code (e.g.
 * ResourceNotFoundException); the SDK client turns it into the exception class of that name.
 */
export class AwsApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

/** One API action: the parsed JSON request in, the JSON response out; AwsApiError for AWS errors. */
export type AwsJsonAction = (request: Record<string, unknown>) => object | Promise<object>;

/**
 * An HTTP server speaking the AWS JSON protocol (1.0, e.g. Step Functions, or 1.1, e.g. Secrets
 * Manager): POST /, `X-Amz-Target: <prefix>.<Action>`. Errors are answered with HTTP 400 and
 * `{ "__type": code, "message": ... }`, which the SDK maps to exceptions by name.
 */
export function createAwsJsonServer(targetPrefix: string, actions: Record<string, AwsJsonAction>, protocolVersion: '1.0' | '1.1' = '1.0'): Server {
  const contentType = `application/x-amz-json-${protocolVersion}`;
  const respond = (response: ServerResponse, statusCode: number, body: object) =>
    response.writeHead(statusCode, { 'content-type': contentType }).end(JSON.stringify(body));
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
    throw new AwsApiError('UnknownOperationException', `Unknown operation ${request.method} ${target}`);
  }
  return action(await readJsonBody(request, () => new AwsApiError('SerializationException', 'Request body is not JSON')));
}

/** A request's JSON object body ({} when empty); `malformed` makes the error the protocol expects. */
export async function readJsonBody(request: IncomingMessage, malformed: () => Error): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw malformed();
  }
}

function errorResponse(error: unknown): [number, object] {
  if (error instanceof AwsApiError) return [400, { __type: error.type, message: error.message }];
  return [500, { __type: 'InternalFailure', message: error instanceof Error ? error.message : String(error) }];
}

/** The AWS JSON protocol sends timestamps as epoch seconds. */
export function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

export function requiredString(request: Record<string, unknown>, field: string): string {
  const value = optionalString(request, field);
  if (value === undefined) throw new AwsApiError('ValidationException', `${field} is required`);
  return value;
}

export function optionalString(request: Record<string, unknown>, field: string): string | undefined {
  const value = request[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AwsApiError('ValidationException', `${field} must be a string`);
  return value;
}
