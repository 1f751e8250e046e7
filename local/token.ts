import './quiet-sdk-notices';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { LOCAL_USERS } from './local-users';
import type { LocalOutputs } from './stack';

/**
 * Prints an ID token for a local user, obtained with the standard Cognito InitiateAuth call.
 *   npm run -s token                  → the seeded client user
 *   npm run -s token -- admin@roboport.local
 *   npm run -s token -- someone@x Passw0rd!
 */
const repoRoot = path.resolve(import.meta.dirname, '..');
const outputs = JSON.parse(readFileSync(path.join(process.env.ROBOPORT_DATA_DIR ?? path.join(repoRoot, '.roboport'), 'outputs.json'), 'utf8')) as LocalOutputs;
const [username = LOCAL_USERS[0]!.username, password = LOCAL_USERS.find((user) => user.username === username)?.password] = process.argv.slice(2);
if (!password) {
  process.stderr.write(`No password given and ${username} is not a seeded user\n`);
  process.exit(2);
}

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
