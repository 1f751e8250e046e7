import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
  NotAuthorizedException,
  UserNotFoundException,
  type AuthenticationResultType,
} from '@aws-sdk/client-cognito-identity-provider';
import * as z from 'zod';
import { CliError, EXIT } from './exit-codes';
import type { StackOutputs } from './target';

/**
 * The token cache: one session per target in `<stateDir>/session.json`, readable by its owner only
 * (0600 in a 0700 folder). People sign in with USER_PASSWORD_AUTH and are refreshed with their
 * refresh token; machines hold a client-credentials access token and fetch a new one when it expires.
 */
const userSessionSchema = z.object({
  kind: z.literal('user'),
  clientId: z.string(),
  username: z.string(),
  idToken: z.string(),
  refreshToken: z.string(),
  /** ms since the epoch: the ID token's `exp`. */
  expiresAt: z.number(),
});
const machineSessionSchema = z.object({
  kind: z.literal('machine'),
  clientId: z.string(),
  clientSecret: z.string(),
  /** The API key of the machine usage plan (x-api-key). */
  apiKey: z.string(),
  accessToken: z.string(),
  expiresAt: z.number(),
});
const sessionSchema = z.discriminatedUnion('kind', [userSessionSchema, machineSessionSchema]);
export type Session = z.infer<typeof sessionSchema>;
export type UserSession = z.infer<typeof userSessionSchema>;
export type MachineSession = z.infer<typeof machineSessionSchema>;

/** A token this close to its expiry is refreshed before use. */
const EXPIRY_MARGIN_MS = 60_000;

export class SessionStore {
  readonly file: string;
  private readonly lastJobFile: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'session.json');
    this.lastJobFile = path.join(dir, 'last-job');
  }

  read(): Session | undefined {
    const text = readOptional(this.file);
    if (text === undefined) return undefined;
    const parsed = sessionSchema.safeParse(safeJson(text));
    return parsed.success ? parsed.data : undefined;
  }

  write(session: Session): void {
    writePrivate(this.dir, this.file, `${JSON.stringify(session)}\n`);
  }

  clear(): boolean {
    const had = readOptional(this.file) !== undefined;
    rmSync(this.file, { force: true });
    return had;
  }

  /** The job the last `submit` or `retry` created, for `watch` and `download` without an id. */
  lastJobId(): string | undefined {
    return readOptional(this.lastJobFile)?.trim() || undefined;
  }

  rememberJob(jobId: string): void {
    writePrivate(this.dir, this.lastJobFile, `${jobId}\n`);
  }
}

export function isFresh(session: Session, now = Date.now()): boolean {
  return session.expiresAt - EXPIRY_MARGIN_MS > now;
}

/** `exp` of a JWT, in ms; the token is the identity provider's, so only its payload is read. */
export function expiryOf(token: string): number {
  const payload = token.split('.')[1];
  const exp = payload ? (safeJson(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown } | undefined)?.exp : undefined;
  if (typeof exp !== 'number') throw new CliError('The identity provider returned a token without an expiry', EXIT.auth);
  return exp * 1000;
}

/** Claims shown after sign-in (who, which groups). */
export function claimsOf(token: string): { username?: string; email?: string; groups: string[] } {
  const payload = safeJson(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown> | undefined;
  const groups = payload?.['cognito:groups'];
  return {
    ...(typeof payload?.['cognito:username'] === 'string' ? { username: payload['cognito:username'] } : {}),
    ...(typeof payload?.email === 'string' ? { email: payload.email } : {}),
    groups: Array.isArray(groups) ? groups.filter((group): group is string => typeof group === 'string') : [],
  };
}

/** Cognito sign-in for people: USER_PASSWORD_AUTH, refreshed with REFRESH_TOKEN_AUTH. */
export class CognitoSignIn {
  private readonly cognito: CognitoIdentityProviderClient;

  constructor(private readonly outputs: StackOutputs) {
    // InitiateAuth needs no AWS credentials (the SDK sends it unsigned).
    this.cognito = new CognitoIdentityProviderClient({ region: outputs.Region, endpoint: outputs.CognitoEndpoint });
  }

  async signIn(username: string, password: string): Promise<UserSession> {
    const result = await this.initiate({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: this.outputs.UserPoolClientId, AuthParameters: { USERNAME: username, PASSWORD: password } });
    if (!result.RefreshToken) throw new CliError('Cognito returned no refresh token', EXIT.auth);
    return this.userSession(username, result, result.RefreshToken);
  }

  async refresh(session: UserSession): Promise<UserSession> {
    const result = await this.initiate({ AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: session.clientId, AuthParameters: { REFRESH_TOKEN: session.refreshToken } }).catch((error: unknown) => {
      throw error instanceof CliError ? new CliError(`Your session for ${session.username} has expired: run \`roboport login\` again`, EXIT.auth) : error;
    });
    // Cognito keeps the refresh token unless rotation hands out a new one.
    return this.userSession(session.username, result, result.RefreshToken ?? session.refreshToken);
  }

  private userSession(username: string, result: AuthenticationResultType, refreshToken: string): UserSession {
    if (!result.IdToken) throw new CliError('Cognito returned no ID token', EXIT.auth);
    return { kind: 'user', clientId: this.outputs.UserPoolClientId, username, idToken: result.IdToken, refreshToken, expiresAt: expiryOf(result.IdToken) };
  }

  private async initiate(input: ConstructorParameters<typeof InitiateAuthCommand>[0]): Promise<AuthenticationResultType> {
    try {
      const { AuthenticationResult, ChallengeName } = await this.cognito.send(new InitiateAuthCommand(input));
      if (ChallengeName) throw new CliError(`Cognito asks for ${ChallengeName}; complete it in the console first (the CLI signs in with a permanent password)`, EXIT.auth);
      if (!AuthenticationResult) throw new CliError('Cognito returned no tokens', EXIT.auth);
      return AuthenticationResult;
    } catch (error) {
      if (error instanceof NotAuthorizedException || error instanceof UserNotFoundException) throw new CliError(`Sign-in refused: ${error.message}`, EXIT.auth);
      if (error instanceof CliError) throw error;
      throw new CliError(`Cannot reach Cognito at ${this.outputs.CognitoEndpoint}: ${(error as Error).message}`, EXIT.unavailable);
    }
  }
}

const tokenResponseSchema = z.object({ access_token: z.string().min(1), expires_in: z.number().positive() });

/** The OAuth client-credentials grant of a machine client (deployed stages: output TokenUrl). */
export async function machineToken(tokenUrl: string, clientId: string, clientSecret: string, now = Date.now()): Promise<{ accessToken: string; expiresAt: number }> {
  let response: Response;
  try {
    response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
  } catch (error) {
    throw new CliError(`Cannot reach the token endpoint ${tokenUrl}: ${(error as Error).message}`, EXIT.unavailable);
  }
  const body = safeJson(await response.text()) as { error?: string } | undefined;
  if (!response.ok) throw new CliError(`Client credentials refused (${response.status}${body?.error ? ` ${body.error}` : ''})`, response.status >= 500 ? EXIT.unavailable : EXIT.auth);
  const parsed = tokenResponseSchema.safeParse(body);
  if (!parsed.success) throw new CliError('The token endpoint answered without an access token', EXIT.auth);
  return { accessToken: parsed.data.access_token, expiresAt: now + parsed.data.expires_in * 1000 };
}

function writePrivate(dir: string, file: string, text: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
