import './quiet-sdk-notices';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { LOCAL_USERS } from './local-users';
import type { LocalOutputs } from './stack';

const USAGE = `Usage: npm run -s token -- [options] [username [password]]
  Prints an ID token of the local stack's Cognito (InitiateAuth USER_PASSWORD_AUTH).
  Without a username: ${LOCAL_USERS[0]!.username}; a seeded user needs no password.

  --data-dir DIR   the data directory \`npm start\` was given (default .roboport, or ROBOPORT_DATA_DIR)
  -h, --help       print this help

  npm run -s token                              the seeded client user
  npm run -s token -- admin@roboport.local      the seeded admin
  npm run -s token -- someone@example.com Passw0rd!`;

const repoRoot = path.resolve(import.meta.dirname, '..');
const { dataDir, username, password } = parseTokenArgs(process.argv.slice(2));

function parseTokenArgs(args: string[]) {
  try {
    const { values, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (positionals.length > 2) throw new Error(`Unexpected argument '${positionals[2]}'`);
    const [username = LOCAL_USERS[0]!.username, password = LOCAL_USERS.find((user) => user.username === username)?.password] = positionals;
    if (!password) throw new Error(`No password given and ${username} is not a seeded user`);
    return { dataDir: path.resolve(values['data-dir'] ?? process.env.ROBOPORT_DATA_DIR ?? path.join(repoRoot, '.roboport')), username, password };
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    process.exit(2);
  }
}

const outputsFile = path.join(dataDir, 'outputs.json');
if (!existsSync(outputsFile)) {
  process.stderr.write(`No ${outputsFile}: is the local stack running? Start it with \`npm start${dataDir === path.join(repoRoot, '.roboport') ? '' : ` -- --data-dir ${dataDir}`}\`.\n`);
  process.exit(1);
}
const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as LocalOutputs;

const cognito = new CognitoIdentityProviderClient({
  region: outputs.Region,
  endpoint: outputs.CognitoEndpoint,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const { AuthenticationResult } = await cognito.send(
  new InitiateAuthCommand({
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: outputs.UserPoolClientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  }),
);
process.stdout.write(`${AuthenticationResult?.IdToken ?? ''}\n`);
