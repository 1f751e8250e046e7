import { ADMINS_GROUP } from '../../core/job';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { createServer } from 'cognito-local/lib/server/server';
import { Router } from 'cognito-local/lib/server/Router';
import { DefaultConfig, type Config } from 'cognito-local/lib/server/config';
import { DateClock, LambdaService, MessagesService, TriggersService, type Services } from 'cognito-local/lib/services';
import { CognitoServiceFactoryImpl } from 'cognito-local/lib/services/cognitoService';
import { CryptoService } from 'cognito-local/lib/services/crypto';
import { StormDBDataStoreFactory } from 'cognito-local/lib/services/dataStore/stormDb';
import { ConsoleMessageSender } from 'cognito-local/lib/services/messageDelivery/consoleMessageSender';
import { MessageDeliveryService } from 'cognito-local/lib/services/messageDelivery/messageDelivery';
import { otp } from 'cognito-local/lib/services/otp';
import { JwtTokenGenerator } from 'cognito-local/lib/services/tokenGenerator';
import { UserPoolServiceFactoryImpl } from 'cognito-local/lib/services/userPoolService';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminGetUserCommand,
  AdminSetUserPasswordCommand,
  CreateGroupCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  ListGroupsCommand,
  ListUserPoolClientsCommand,
  ListUserPoolsCommand,
  UserNotFoundException,
  type CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { JwtRsaVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';
import { closeServer, LOOPBACK_HOST } from './http-server';

type CognitoLogger = Parameters<typeof createServer>[1];

/** pino as cognito-local itself resolves it: the project does not depend on pino directly. */
const pino = createRequire(createRequire(import.meta.url).resolve('cognito-local'))('pino') as (options: {
  level: string;
}) => CognitoLogger;

export interface LocalCognitoOptions {
  /** Directory of cognito-local's JSON databases (user pools, clients), e.g. `.roboport/cognito`. */
  dataDir: string;
  port?: number;
  /** pino level of cognito-local's request log. */
  logLevel?: 'silent' | 'error' | 'warn' | 'info' | 'debug';
}

export interface LocalCognito {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts cognito-local in-process on 127.0.0.1. Its own createDefaultServer() always stores data under
 * `./.cognito` of the working directory, so the same services are assembled here with a chosen directory.
 * Tokens carry `iss` = `<endpoint>/<poolId>` (cognito-local's default would be http://localhost:9229).
 */
export async function startLocalCognito({ dataDir, port = 0, logLevel = 'silent' }: LocalCognitoOptions): Promise<LocalCognito> {
  const logger = pino({ level: logLevel });
  const config: Config = {
    ...DefaultConfig,
    UserPoolDefaults: {},
    TokenConfig: { IssuerDomain: '' },
    ServerConfig: { port, hostname: LOOPBACK_HOST, development: false, https: false },
  };
  const services = await createCognitoServices(config, dataDir, logger);
  const server = (await createServer(Router(services), logger, config.ServerConfig, services).start()) as Server;
  const endpoint = `http://${LOOPBACK_HOST}:${(server.address() as { port: number }).port}`;
  // The token generator reads the issuer at signing time; only now is the port known.
  config.TokenConfig.IssuerDomain = endpoint;
  return { endpoint, close: () => closeServer(server) };
}

/** The wiring of cognito-local's createDefaultServer(), with the data directory as a parameter. */
async function createCognitoServices(config: Config, dataDir: string, logger: CognitoLogger): Promise<Services> {
  const clock = new DateClock();
  const dataStoreFactory = new StormDBDataStoreFactory(dataDir);
  const cognitoServiceFactory = new CognitoServiceFactoryImpl(
    dataDir,
    dataStoreFactory,
    new UserPoolServiceFactoryImpl(clock, dataStoreFactory),
  );
  const cognito = await cognitoServiceFactory.create({ logger }, config.UserPoolDefaults);
  // No trigger functions are configured, so cognito-local never calls its Lambda client.
  const triggers = new TriggersService(clock, cognito, new LambdaService({}, undefined as never), new CryptoService(config.KMSConfig));
  return {
    clock,
    cognito,
    config,
    messages: new MessagesService(triggers, new MessageDeliveryService(new ConsoleMessageSender())),
    otp,
    tokenGenerator: new JwtTokenGenerator(clock, triggers, config.TokenConfig),
    triggers,
  };
}

export interface LocalUser {
  username: string;
  email: string;
  password: string;
  groups: string[];
}

export interface EnsureUserPoolOptions {
  poolName?: string;
  clientName?: string;
  users?: LocalUser[];
}

export interface LocalUserPool {
  poolId: string;
  clientId: string;
}


/**
 * Finds or creates (by name) the user pool, its app client, the `admins` group plus every group the
 * users name, and the users with permanent passwords. Safe to run on every start.
 */
export async function ensureUserPool(
  client: CognitoIdentityProviderClient,
  { poolName = 'roboport-local', clientName = 'roboport-web', users = [] }: EnsureUserPoolOptions = {},
): Promise<LocalUserPool> {
  const poolId = await ensurePool(client, poolName);
  const clientId = await ensureAppClient(client, poolId, clientName);
  const groupNames = new Set([ADMINS_GROUP, ...users.flatMap((user) => user.groups)]);
  await ensureGroups(client, poolId, groupNames);
  for (const user of users) await ensureUser(client, poolId, user);
  return { poolId, clientId };
}

async function ensurePool(client: CognitoIdentityProviderClient, poolName: string): Promise<string> {
  const { UserPools = [] } = await client.send(new ListUserPoolsCommand({ MaxResults: 60 }));
  const existingId = UserPools.find((pool) => pool.Name === poolName)?.Id;
  if (existingId) return existingId;
  const { UserPool } = await client.send(new CreateUserPoolCommand({ PoolName: poolName }));
  return requireValue(UserPool?.Id, `CreateUserPool ${poolName}`);
}

async function ensureAppClient(client: CognitoIdentityProviderClient, poolId: string, clientName: string): Promise<string> {
  const { UserPoolClients = [] } = await client.send(new ListUserPoolClientsCommand({ UserPoolId: poolId, MaxResults: 60 }));
  const existingId = UserPoolClients.find((appClient) => appClient.ClientName === clientName)?.ClientId;
  if (existingId) return existingId;
  const { UserPoolClient } = await client.send(
    new CreateUserPoolClientCommand({
      UserPoolId: poolId,
      ClientName: clientName,
      ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    }),
  );
  return requireValue(UserPoolClient?.ClientId, `CreateUserPoolClient ${clientName}`);
}

/** ListGroups, not GetGroup: cognito-local 5.3 answers GetGroup with a 500 while a pool has no groups. */
async function ensureGroups(client: CognitoIdentityProviderClient, poolId: string, groupNames: Set<string>): Promise<void> {
  const { Groups = [] } = await client.send(new ListGroupsCommand({ UserPoolId: poolId, Limit: 60 }));
  const existing = new Set(Groups.map((group) => group.GroupName));
  for (const groupName of groupNames) {
    if (!existing.has(groupName)) await client.send(new CreateGroupCommand({ UserPoolId: poolId, GroupName: groupName }));
  }
}

/** Creates the user if missing; password and group memberships are (re)applied every time. */
async function ensureUser(client: CognitoIdentityProviderClient, poolId: string, user: LocalUser): Promise<void> {
  const exists = await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: user.username })).then(
    () => true,
    (error: unknown) => (error instanceof UserNotFoundException ? false : Promise.reject(error)),
  );
  if (!exists) {
    await client.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: user.username,
        MessageAction: 'SUPPRESS',
        UserAttributes: [
          { Name: 'email', Value: user.email },
          { Name: 'email_verified', Value: 'true' },
        ],
      }),
    );
  }
  await client.send(
    new AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: user.username, Password: user.password, Permanent: true }),
  );
  for (const groupName of user.groups) {
    await client.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, Username: user.username, GroupName: groupName }));
  }
}

function requireValue<T>(value: T | undefined, operation: string): T {
  if (value === undefined) throw new Error(`${operation} returned no id`);
  return value;
}

export interface LocalJwtVerifierOptions {
  cognitoUrl: string;
  poolId: string;
  /** The app client id: the `aud` of id tokens. */
  clientId: string;
}

export interface LocalJwtVerifier {
  /** Resolves with the claims of a valid, unexpired id token of this pool and client; rejects otherwise. */
  verify(idToken: string): Promise<JwtPayload>;
}

/**
 * Verifies cognito-local id tokens the way API Gateway's Cognito authorizer verifies real ones.
 * CognitoJwtVerifier rejects local pool ids and aws-jwt-verify's default fetcher refuses http,
 * so this is a JwtRsaVerifier whose JWKS is fetched with the global fetch.
 */
export function createLocalJwtVerifier({ cognitoUrl, poolId, clientId }: LocalJwtVerifierOptions): LocalJwtVerifier {
  const issuer = `${cognitoUrl}/${poolId}`;
  const verifier = JwtRsaVerifier.create(
    {
      issuer,
      audience: clientId,
      jwksUri: `${issuer}/.well-known/jwks.json`,
      customJwtCheck: ({ payload }) => {
        if (payload.token_use !== 'id') throw new Error(`Expected an id token, got token_use ${String(payload.token_use)}`);
        // aws-jwt-verify checks exp only when present; Cognito always sets it, so a token without one is forged.
        if (typeof payload.exp !== 'number') throw new Error('The token has no exp claim');
      },
    },
    { jwksCache: new SimpleJwksCache({ fetcher: { fetch: fetchArrayBuffer } }) },
  );
  return { verify: (idToken) => verifier.verify(idToken) };
}

async function fetchArrayBuffer(uri: string): Promise<ArrayBuffer> {
  const response = await fetch(uri);
  if (!response.ok) throw new Error(`GET ${uri} answered ${response.status}`);
  return response.arrayBuffer();
}
