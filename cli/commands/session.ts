import type { Command } from 'commander';
import { LOCAL_USERS } from '../../local/local-users';
import { contextOf } from '../context';
import { CliError, EXIT, usageError } from '../exit-codes';
import { askLine, askSecret, readStdin } from '../prompt';
import { claimsOf, machineToken, type Session } from '../session';

interface LoginOptions {
  username?: string;
  passwordStdin?: boolean;
  machine?: boolean;
  clientId?: string;
  apiKey?: string;
}

export function addSessionCommands(program: Command): void {
  program
    .command('login')
    .description(
      'sign in and cache the tokens (0600, refreshed with the refresh token). People: Cognito USER_PASSWORD_AUTH, password from ROBOPORT_PASSWORD, --password-stdin or a prompt (local stack: the seeded users need none). Machines (deployed stages): --machine, secret from ROBOPORT_CLIENT_SECRET, API key from --api-key or ROBOPORT_API_KEY',
    )
    .option('-u, --username <email>', 'who signs in (local stack default: client@roboport.local)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--machine', 'client credentials of a machine client instead of a person')
    .option('--client-id <id>', 'machine client id (default: the MachineClientId output)')
    .option('--api-key <key>', 'API key of the machine usage plan (default: ROBOPORT_API_KEY)')
    .action(async (options: LoginOptions, command: Command) => {
      const { target, store, api, out } = contextOf(command);
      const session = options.machine ? await machineLogin(api.tokenUrl(), target.outputs.MachineClientId, options) : await api.cognito().signIn(...(await userCredentials(target.local, options)));
      store.write(session);
      const who = describe(session);
      out.result({ target: target.name, ...who, expiresAt: new Date(session.expiresAt).toISOString() }, () => `Signed in to ${target.name} as ${who.principal}${who.groups.length ? ` (${who.groups.join(', ')})` : ''}.`);
    });

  program
    .command('logout')
    .description('forget the cached tokens of this stack')
    .action((_options: unknown, command: Command) => {
      const { target, store, out } = contextOf(command);
      const had = store.clear();
      out.result({ target: target.name, signedOut: had }, () => (had ? `Signed out of ${target.name}.` : `Not signed in to ${target.name}.`));
    });
}

async function userCredentials(local: boolean, options: LoginOptions): Promise<[string, string]> {
  const seeded = local ? LOCAL_USERS.find((user) => user.username === (options.username ?? LOCAL_USERS[0]!.username)) : undefined;
  const username = options.username ?? seeded?.username ?? (await askLine('Username (email): ', 'pass --username'));
  const password =
    (options.passwordStdin ? await readStdin() : process.env.ROBOPORT_PASSWORD) ?? seeded?.password ?? (await askSecret(`Password for ${username}: `, 'set ROBOPORT_PASSWORD or pass --password-stdin'));
  if (!username || !password) throw usageError('A username and a password are required');
  return [username, password];
}

async function machineLogin(tokenUrl: string, defaultClientId: string | undefined, options: LoginOptions): Promise<Session> {
  const clientId = options.clientId ?? defaultClientId;
  const clientSecret = options.passwordStdin ? await readStdin() : process.env.ROBOPORT_CLIENT_SECRET;
  const apiKey = options.apiKey ?? process.env.ROBOPORT_API_KEY;
  if (!clientId) throw usageError('--client-id is required (the stack has no MachineClientId output)');
  if (!clientSecret) throw usageError('Set ROBOPORT_CLIENT_SECRET or pass --password-stdin with the machine client secret');
  if (!apiKey) throw usageError('Pass --api-key or set ROBOPORT_API_KEY (aws apigateway get-api-key --api-key <MachineApiKeyId> --include-value)');
  return { kind: 'machine', clientId, clientSecret, apiKey, ...(await machineToken(tokenUrl, clientId, clientSecret)) };
}

function describe(session: Session): { principal: string; groups: string[] } {
  if (session.kind === 'machine') return { principal: `machine client ${session.clientId}`, groups: [] };
  const claims = claimsOf(session.idToken);
  if (!claims.email && !claims.username) throw new CliError('The ID token names nobody', EXIT.auth);
  return { principal: claims.email ?? claims.username!, groups: claims.groups };
}
