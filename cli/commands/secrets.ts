import type { Command } from 'commander';
import { contextOf } from '../context';
import { usageError } from '../exit-codes';
import { collect, keyValuesOf } from '../input';
import { table } from '../output';
import { askSecret, readStdin } from '../prompt';

interface CredentialView {
  name: string;
  scope: 'own' | 'shared';
  ref: string;
  hosts: string[];
  updatedAt: string;
}

const scopeQuery = (shared: boolean | undefined) => ({ scope: shared ? 'shared' : undefined });

export function addSecretCommands(program: Command): void {
  const secrets = program.command('secrets').description('portal credentials: list (default), show, put, delete; values are write-only');

  secrets
    .command('list', { isDefault: true })
    .description('your credentials and the shared ones (metadata only)')
    .action(async (_options: unknown, command: Command) => {
      const { api, out } = contextOf(command);
      const { secrets: listed } = await api.get<{ secrets: CredentialView[] }>('/secrets');
      out.result(listed, () => (listed.length ? table(['REF', 'SCOPE', 'HOSTS', 'UPDATED'], listed.map((s) => [s.ref, s.scope, s.hosts.join(' '), s.updatedAt])) : ['No credentials.']));
    });

  secrets
    .command('show')
    .argument('<name>')
    .option('--shared', 'the shared credentials of that name')
    .action(async (name: string, options: { shared?: boolean }, command: Command) => {
      const { api, out } = contextOf(command);
      const secret = await api.get<CredentialView>(`/secrets/${encodeURIComponent(name)}`, scopeQuery(options.shared));
      out.result(secret, () => describe(secret));
    });

  secrets
    .command('put')
    .description('create or rotate credentials bound to portal hosts; the password comes from ROBOPORT_SECRET_PASSWORD, --password-stdin or a prompt')
    .argument('<name>')
    .requiredOption('--username <username>', 'the portal user')
    .requiredOption('--host <host>', 'a portal host (or host:port) the credentials may be typed into (repeatable)', collect)
    .option('--field <name=value>', 'another login form field (repeatable)', collect)
    .option('--password-stdin', 'read the password from stdin')
    .option('--shared', 'shared credentials (admins)')
    .action(async (name: string, options: { username: string; host: string[]; field?: string[]; passwordStdin?: boolean; shared?: boolean }, command: Command) => {
      const { api, out } = contextOf(command);
      const password =
        (options.passwordStdin ? await readStdin() : process.env.ROBOPORT_SECRET_PASSWORD) ??
        (await askSecret(`Portal password for ${options.username}: `, 'set ROBOPORT_SECRET_PASSWORD or pass --password-stdin'));
      if (!password) throw usageError('The password is empty');
      const body = { username: options.username, password, hosts: options.host, ...(options.field ? { fields: keyValuesOf(options.field, '--field') } : {}) };
      const { status, body: secret } = await api.request<CredentialView>('PUT', `/secrets/${encodeURIComponent(name)}`, { body, query: scopeQuery(options.shared) });
      out.result(secret, () => [`${status === 201 ? 'Created' : 'Rotated'}:`, ...describe(secret)]);
    });

  secrets
    .command('delete')
    .argument('<name>')
    .option('--shared', 'the shared credentials of that name (admins)')
    .action(async (name: string, options: { shared?: boolean }, command: Command) => {
      const { api, out } = contextOf(command);
      await api.request('DELETE', `/secrets/${encodeURIComponent(name)}`, { query: scopeQuery(options.shared) });
      out.result({ name, deleted: true }, () => `Deleted ${options.shared ? 'shared/' : ''}${name}.`);
    });
}

function describe(secret: CredentialView): string[] {
  return [`${secret.ref} (${secret.scope}): bound to ${secret.hosts.join(', ')}; updated ${secret.updatedAt}`, `  jobs name it as "credentialsSecret": "${secret.ref}"`];
}
