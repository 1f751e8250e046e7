/**
 * Cognito sign-in from the browser, with the same public JSON API the AWS SDK calls
 * (InitiateAuth USER_PASSWORD_AUTH / REFRESH_TOKEN_AUTH, RespondToAuthChallenge). The app client
 * has no secret, as every client whose code ships to browsers must.
 *
 * Tokens live in sessionStorage: they survive a reload but not the tab, and are never written to
 * localStorage or cookies. The API is called with the ID token, as the Cognito authorizer expects.
 */
const STORAGE_KEY = 'roboport.session';
/** Refresh this long before the ID token expires, so that no request carries an expiring token. */
const REFRESH_MARGIN_MS = 60_000;

export class AuthError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}

export class Session {
  #config;
  #tokens;
  #refreshing;
  #listeners = new Set();

  constructor(config) {
    this.#config = config;
    this.#tokens = readStoredTokens();
  }

  get signedIn() {
    return Boolean(this.#tokens);
  }

  /** Display data from the ID token's claims (not a security decision: the API decides). */
  get user() {
    if (!this.#tokens) return undefined;
    const claims = decodeJwtPayload(this.#tokens.idToken);
    const groups = Array.isArray(claims['cognito:groups']) ? claims['cognito:groups'] : [];
    return { name: claims.email ?? claims['cognito:username'] ?? claims.sub, groups, isAdmin: groups.includes('admins') };
  }

  /** Called with no argument whenever the user signs in or out. */
  onChange(listener) {
    this.#listeners.add(listener);
  }

  /**
   * Signs in with a password. Resolves with undefined when signed in, or with a challenge
   * `{ name, session }` (NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA) to answer with respond().
   */
  async signIn(username, password) {
    const result = await this.#call('InitiateAuth', {
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: this.#config.userPoolClientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
    return this.#accept(result, username);
  }

  /** Answers a challenge from signIn(); `answer` is the new password or the TOTP code. */
  async respond(challenge, answer) {
    const responses = { USERNAME: challenge.username };
    if (challenge.name === 'NEW_PASSWORD_REQUIRED') responses.NEW_PASSWORD = answer;
    else if (challenge.name === 'SOFTWARE_TOKEN_MFA') responses.SOFTWARE_TOKEN_MFA_CODE = answer;
    else throw new AuthError(challenge.name, `Sign-in step ${challenge.name} is not supported by the console`);
    const result = await this.#call('RespondToAuthChallenge', {
      ChallengeName: challenge.name,
      ClientId: this.#config.userPoolClientId,
      Session: challenge.session,
      ChallengeResponses: responses,
    });
    return this.#accept(result, challenge.username);
  }

  /** A valid ID token, refreshed first when it is about to expire; undefined when signed out. */
  async idToken() {
    if (!this.#tokens) return undefined;
    if (Date.now() > this.#tokens.expiresAt - REFRESH_MARGIN_MS) await this.refresh();
    return this.#tokens?.idToken;
  }

  /** New ID token from the refresh token; signs out when Cognito refuses it (expired, revoked). */
  async refresh() {
    // Concurrent requests share one refresh call.
    this.#refreshing ??= this.#refreshOnce().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  signOut() {
    this.#store(undefined);
  }

  async #refreshOnce() {
    const refreshToken = this.#tokens?.refreshToken;
    if (!refreshToken) return;
    try {
      const result = await this.#call('InitiateAuth', {
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        ClientId: this.#config.userPoolClientId,
        AuthParameters: { REFRESH_TOKEN: refreshToken },
      });
      // Cognito does not return a new refresh token on this flow: keep the one we have.
      this.#store(tokensOf(result.AuthenticationResult, refreshToken));
    } catch (error) {
      if (error instanceof AuthError && error.code === 'NotAuthorizedException') this.signOut();
      throw error;
    }
  }

  #accept(result, username) {
    if (result.ChallengeName) return { name: result.ChallengeName, session: result.Session, username };
    this.#store(tokensOf(result.AuthenticationResult));
    return undefined;
  }

  #store(tokens) {
    this.#tokens = tokens;
    if (tokens) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(tokens));
    else sessionStorage.removeItem(STORAGE_KEY);
    for (const listener of this.#listeners) listener();
  }

  async #call(operation, body) {
    let response;
    try {
      response = await fetch(this.#config.cognitoEndpoint, {
        method: 'POST',
        headers: {
          'X-Amz-Target': `AWSCognitoIdentityProviderService.${operation}`,
          'Content-Type': 'application/x-amz-json-1.1',
        },
        body: JSON.stringify(body),
      });
    } catch {
      throw new AuthError('NetworkError', 'Cannot reach the sign-in service. Check your connection and try again.');
    }
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      // Cognito names the error in __type, sometimes prefixed with a namespace ("...#NotAuthorizedException").
      const code = String(payload.__type ?? `HTTP${response.status}`).split('#').pop();
      throw new AuthError(code, payload.message ?? `Sign-in failed (${code})`);
    }
    return payload;
  }
}

function tokensOf(result, refreshToken = result?.RefreshToken) {
  if (!result?.IdToken) throw new AuthError('NoToken', 'The sign-in service returned no token');
  const { exp } = decodeJwtPayload(result.IdToken);
  return { idToken: result.IdToken, refreshToken, expiresAt: typeof exp === 'number' ? exp * 1000 : Date.now() + result.ExpiresIn * 1000 };
}

function readStoredTokens() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
    return stored?.idToken && stored.refreshToken ? stored : undefined;
  } catch {
    return undefined;
  }
}

function decodeJwtPayload(token) {
  try {
    const base64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}
