import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { z } from 'zod';
import { AwsApiError, createAwsJsonServer, epochSeconds, optionalString, requiredString, type AwsJsonAction } from './aws-json-server';
import { closeServer, listenOnLoopback } from './http-server';

export interface LocalSecretsManagerOptions {
  port?: number;
  /** JSON file that keeps the secrets across restarts; in memory when absent. */
  dataFile?: string;
}

export interface LocalSecretsManager {
  /** Value for AWS_ENDPOINT_URL_SECRETS_MANAGER. */
  endpoint: string;
  close(): Promise<void>;
}

/** Exactly one of them; the binary in base64, as the AWS JSON protocol carries blobs. */
type SecretValue = { string: string; binary?: undefined } | { binary: string; string?: undefined };

/** One secret with its current version; earlier versions are not kept. */
interface StoredSecret {
  arn: string;
  name: string;
  description?: string;
  versionId: string;
  value: SecretValue;
  /** Absent on secrets stored before tags were emulated. */
  tags?: Tag[];
  createdDate: string;
  lastChangedDate: string;
}

interface Tag {
  Key: string;
  Value: string;
}

// The local stack's region and account (local/stack.ts).
const ARN_PREFIX = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:';
const CURRENT_STAGE = 'AWSCURRENT';
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/**
 * The Secrets Manager API subset robots, the credentials routes and the local stack use
 * (CreateSecret, GetSecretValue, PutSecretValue, DescribeSecret, ListSecrets with name filters,
 * TagResource, UntagResource, DeleteSecret), over AWS JSON 1.1 so that
 * @aws-sdk/client-secrets-manager works unchanged. Secrets are found by name or full ARN.
 * Values are kept in plain text in `dataFile`: local development data only.
 */
export async function startLocalSecretsManager({ port, dataFile }: LocalSecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const secrets = new Map<string, StoredSecret>(
    (dataFile && existsSync(dataFile) ? (JSON.parse(readFileSync(dataFile, 'utf8')) as StoredSecret[]) : []).map((secret) => [secret.name, secret]),
  );
  const save = () => {
    if (!dataFile) return;
    // Write then rename: a crash mid-write never leaves a truncated file behind.
    writeFileSync(`${dataFile}.tmp`, JSON.stringify([...secrets.values()], null, 2), { mode: 0o600 });
    renameSync(`${dataFile}.tmp`, dataFile);
  };
  const server = createAwsJsonServer('secretsmanager', secretsManagerActions(secrets, save), '1.1');
  const endpoint = await listenOnLoopback(server, port);
  return { endpoint, close: () => closeServer(server) };
}

function secretsManagerActions(secrets: Map<string, StoredSecret>, save: () => void): Record<string, AwsJsonAction> {
  const find = (request: Record<string, unknown>): StoredSecret => {
    const id = requiredString(request, 'SecretId');
    const secret = secrets.get(id) ?? [...secrets.values()].find((candidate) => candidate.arn === id);
    if (!secret) throw new AwsApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  };
  const versionOf = (secret: StoredSecret) => ({ ARN: secret.arn, Name: secret.name, VersionId: secret.versionId, VersionStages: [CURRENT_STAGE] });

  return {
    CreateSecret: (request) => {
      const name = requiredString(request, 'Name');
      if (!SECRET_NAME.test(name)) throw new AwsApiError('ValidationException', 'Name must be 1-512 characters of A-Z a-z 0-9 /_+=.@-');
      const value = secretValue(request);
      const versionId = optionalString(request, 'ClientRequestToken') ?? randomUUID();
      const existing = secrets.get(name);
      // A retried request (same ClientRequestToken) succeeds again, as in AWS.
      if (existing?.versionId === versionId) return versionOf(existing);
      if (existing) throw new AwsApiError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      const now = new Date().toISOString();
      const description = optionalString(request, 'Description');
      const secret: StoredSecret = {
        arn: `${ARN_PREFIX}${name}-${randomBytes(6).toString('base64url').slice(0, 6)}`,
        name,
        ...(description === undefined ? {} : { description }),
        versionId,
        value,
        tags: mergeTags([], tagsOf(request)),
        createdDate: now,
        lastChangedDate: now,
      };
      secrets.set(name, secret);
      save();
      return versionOf(secret);
    },
    PutSecretValue: (request) => {
      const secret = find(request);
      const versionId = optionalString(request, 'ClientRequestToken') ?? randomUUID();
      if (secret.versionId === versionId) return versionOf(secret);
      const updated: StoredSecret = { ...secret, value: secretValue(request), versionId, lastChangedDate: new Date().toISOString() };
      secrets.set(secret.name, updated);
      save();
      return versionOf(updated);
    },
    GetSecretValue: (request) => {
      const secret = find(request);
      const versionId = optionalString(request, 'VersionId');
      const stage = optionalString(request, 'VersionStage');
      if ((versionId !== undefined && versionId !== secret.versionId) || (stage !== undefined && stage !== CURRENT_STAGE)) {
        throw new AwsApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for the version or staging label.");
      }
      return {
        ...versionOf(secret),
        SecretString: secret.value.string,
        SecretBinary: secret.value.binary,
        // The current version's creation, which is the secret's last change here.
        CreatedDate: epochSeconds(new Date(secret.lastChangedDate)),
      };
    },
    DescribeSecret: (request) => describe(find(request)),
    // One page (MaxResults and NextToken are not emulated); `name` filters match name prefixes, as in AWS.
    ListSecrets: (request) => {
      const prefixes = nameFilterValues(request);
      const listed = [...secrets.values()].filter((secret) => !prefixes || prefixes.some((prefix) => secret.name.startsWith(prefix)));
      return { SecretList: listed.sort((a, b) => a.name.localeCompare(b.name)).map(describe) };
    },
    TagResource: (request) => {
      const secret = find(request);
      secrets.set(secret.name, { ...secret, tags: mergeTags(secret.tags ?? [], tagsOf(request)) });
      save();
      return {};
    },
    UntagResource: (request) => {
      const secret = find(request);
      const keys = new Set(Array.isArray(request.TagKeys) ? request.TagKeys.map(String) : []);
      secrets.set(secret.name, { ...secret, tags: (secret.tags ?? []).filter((tag) => !keys.has(tag.Key)) });
      save();
      return {};
    },
    // Deleted at once: a recovery window is not emulated, so RecoveryWindowInDays is treated like ForceDeleteWithoutRecovery.
    DeleteSecret: (request) => {
      const secret = find(request);
      secrets.delete(secret.name);
      save();
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(new Date()) };
    },
  };
}

function secretValue(request: Record<string, unknown>): SecretValue {
  const secretString = optionalString(request, 'SecretString');
  const secretBinary = optionalString(request, 'SecretBinary');
  if (secretString !== undefined && secretBinary === undefined) return { string: secretString };
  if (secretBinary !== undefined && secretString === undefined) return { binary: secretBinary };
  throw new AwsApiError('InvalidParameterException', 'Exactly one of SecretString or SecretBinary must be set.');
}

function describe(secret: StoredSecret): object {
  return {
    ARN: secret.arn,
    Name: secret.name,
    Description: secret.description,
    CreatedDate: epochSeconds(new Date(secret.createdDate)),
    LastChangedDate: epochSeconds(new Date(secret.lastChangedDate)),
    VersionIdsToStages: { [secret.versionId]: [CURRENT_STAGE] },
    Tags: secret.tags ?? [],
  };
}

function tagsOf(request: Record<string, unknown>): Tag[] {
  if (request.Tags === undefined) return [];
  if (!Array.isArray(request.Tags)) throw new AwsApiError('ValidationException', 'Tags must be a list');
  return request.Tags.map((tag: unknown) => {
    const { Key, Value } = (tag ?? {}) as Record<string, unknown>;
    if (typeof Key !== 'string' || typeof Value !== 'string' || Key.length > 128 || Value.length > 256) {
      throw new AwsApiError('ValidationException', 'Each tag needs a Key (at most 128 characters) and a Value (at most 256)');
    }
    return { Key, Value };
  });
}

/** Tags with the same key are replaced, as TagResource does. */
function mergeTags(current: Tag[], added: Tag[]): Tag[] {
  const keys = new Set(added.map((tag) => tag.Key));
  const merged = [...current.filter((tag) => !keys.has(tag.Key)), ...added];
  if (merged.length > 50) throw new AwsApiError('ValidationException', 'A secret has at most 50 tags');
  return merged;
}

function nameFilterValues(request: Record<string, unknown>): string[] | undefined {
  if (!Array.isArray(request.Filters)) return undefined;
  const names = request.Filters.filter((filter: { Key?: unknown }) => filter?.Key === 'name').flatMap((filter: { Values?: unknown }) =>
    Array.isArray(filter.Values) ? filter.Values.map(String) : [],
  );
  return names.length > 0 ? names : undefined;
}

/**
 * The JSON value kept in a secret: returned as is when it matches `schema`, otherwise replaced
 * by `create()` (created, or put as a new version). Repeated starts keep a generated value.
 */
export async function ensureJsonSecret<T>(client: SecretsManagerClient, name: string, schema: z.ZodType<T>, create: () => T): Promise<T> {
  let exists = true;
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: name }));
    const parsed = schema.safeParse(parseJsonOrUndefined(SecretString));
    if (parsed.success) return parsed.data;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    exists = false;
  }
  const value = create();
  const SecretString = JSON.stringify(value);
  if (exists) await client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
  else await client.send(new CreateSecretCommand({ Name: name, SecretString }));
  return value;
}

function parseJsonOrUndefined(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
