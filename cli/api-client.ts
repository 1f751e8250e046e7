import { CliError, EXIT, type ExitCode } from './exit-codes';
import { CognitoSignIn, isFresh, machineToken, type Session, type SessionStore } from './session';
import type { Target } from './target';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  /** Sent as application/json. */
  body?: unknown;
  /** Sent as multipart/form-data. */
  form?: FormData;
  headers?: Record<string, string>;
}

/** The API's error shape: `{error: {code, message, details?}}` (functions/shared/http.ts). */
interface ApiErrorBody {
  error?: { code?: string; message?: string; details?: { fields?: Array<{ field?: string; message?: string }>; rows?: Array<{ row?: number; value?: unknown; message?: string }> } };
}

/** A refused request, with the API's message and the fields or sheet rows it names. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    exitCode: ExitCode,
  ) {
    super(message, exitCode);
    this.name = 'ApiError';
  }
}

/**
 * Calls the stack's REST API as the signed-in user (ID token, ApiUrl) or machine (access token and
 * API key, MachineApiUrl), refreshing the cached token when it is about to expire or was refused.
 */
export class ApiClient {
  private signIn: CognitoSignIn | undefined;

  constructor(
    readonly target: Target,
    private readonly store: SessionStore,
  ) {}

  /** The session, refreshed if needed; `roboport login` first otherwise. */
  async session(force = false): Promise<Session> {
    const session = this.store.read();
    const clientId = session?.kind === 'machine' ? this.target.outputs.MachineClientId : this.target.outputs.UserPoolClientId;
    if (!session || session.clientId !== clientId) throw new CliError(`Not signed in to ${this.target.name}: run \`roboport login\``, EXIT.auth);
    if (!force && isFresh(session)) return session;
    const renewed =
      session.kind === 'user'
        ? await this.cognito().refresh(session)
        : { ...session, ...(await machineToken(this.tokenUrl(), session.clientId, session.clientSecret)) };
    this.store.write(renewed);
    return renewed;
  }

  cognito(): CognitoSignIn {
    this.signIn ??= new CognitoSignIn(this.target.outputs);
    return this.signIn;
  }

  tokenUrl(): string {
    const { TokenUrl } = this.target.outputs;
    if (!TokenUrl) throw new CliError(`${this.target.name} has no machine clients (no TokenUrl output): sign in with a username and password`, EXIT.usage);
    return TokenUrl;
  }

  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    let session = await this.session();
    let response = await this.send(session, method, path, options);
    if (response.status === 401) {
      session = await this.session(true);
      response = await this.send(session, method, path, options);
    }
    const text = await response.text();
    const body = text ? parseJson(text) : undefined;
    if (!response.ok) throw apiErrorOf(method, path, response.status, body as ApiErrorBody | undefined);
    return { status: response.status, headers: response.headers, body: body as T };
  }

  get<T = any>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, query ? { query } : {}).then((response) => response.body);
  }

  private async send(session: Session, method: string, path: string, options: RequestOptions): Promise<Response> {
    const base = session.kind === 'machine' ? this.target.outputs.MachineApiUrl?.replace(/\/+$/, '') : this.target.outputs.ApiUrl;
    if (!base) throw new CliError(`${this.target.name} has no MachineApiUrl output`, EXIT.usage);
    const url = new URL(`${base}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const headers: Record<string, string> = {
      authorization: `Bearer ${session.kind === 'machine' ? session.accessToken : session.idToken}`,
      ...(session.kind === 'machine' ? { 'x-api-key': session.apiKey } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    };
    const body = options.form ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    try {
      return await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`Cannot reach the API at ${base}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, EXIT.unavailable);
    }
  }
}

export function apiErrorOf(method: string, path: string, status: number, body: ApiErrorBody | undefined): ApiError {
  const error = body?.error;
  const code = error?.code ?? `HTTP_${status}`;
  const lines = [`${method} ${path.split('?')[0]} failed: ${error?.message ?? `HTTP ${status}`} (${status} ${code})`];
  for (const field of error?.details?.fields ?? []) lines.push(`  ${field.field ?? '?'}: ${field.message ?? ''}`);
  for (const row of error?.details?.rows ?? []) lines.push(`  row ${row.row ?? '?'}: ${JSON.stringify(row.value)} ${row.message ?? ''}`.trimEnd());
  return new ApiError(status, code, lines.join('\n'), exitCodeOf(status));
}

function exitCodeOf(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status >= 500) return EXIT.unavailable;
  return EXIT.rejected;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { error: { message: text.slice(0, 500) } };
  }
}
