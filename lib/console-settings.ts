import { API_ROUTES } from '../functions/api/routes';

/**
 * What the admin console (console/) is told at run time, and the security policy it is served
 * with. Shared by the CDK console construct and the local console server, and free of CDK
 * imports: values may be CDK tokens in one and plain strings in the other.
 */
export interface ConsoleConfig {
  /** Base URL of the REST API (with the stage path in AWS). */
  apiUrl: string;
  region: string;
  /** App client without a secret that allows USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH. */
  userPoolClientId: string;
  /** Cognito's JSON endpoint: `https://cognito-idp.<region>.amazonaws.com/`, or cognito-local. */
  cognitoEndpoint: string;
  /** "METHOD /path" of every API route, so the console offers only what this API can do. */
  routes: string[];
}

export function consoleConfig(settings: Omit<ConsoleConfig, 'routes'>): ConsoleConfig {
  return { ...settings, routes: API_ROUTES.map((route) => `${route.method} ${route.path}`) };
}

/**
 * The console's Content-Security-Policy: its own scripts and styles only, no inline code, no
 * framing, and network calls only to itself (config.json), the API and Cognito. A source with a
 * path ending in "/" (the API's stage URL) allows that path and below.
 */
export function consoleContentSecurityPolicy({ apiUrl, cognitoEndpoint }: Pick<ConsoleConfig, 'apiUrl' | 'cognitoEndpoint'>): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self' ${apiUrl} ${cognitoEndpoint}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
