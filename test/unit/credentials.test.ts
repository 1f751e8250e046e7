import { beforeEach, describe, expect, it } from 'vitest';
import {
  checkCredentialUses,
  deleteCredential,
  getCredential,
  listCredentials,
  putCredential,
  resolveCredentialRef,
} from '../../core/credentials';
import { ForbiddenAction, InputInvalid, SecretNotFound } from '../../core/errors';
import type { Caller } from '../../core/job';
import { MemoryCredentialStore, TEST_SECRETS_PREFIX, testCredentialDeps } from '../support/memory-credential-store';

const alice: Caller = { sub: 'alice', isAdmin: false };
const bob: Caller = { sub: 'bob', isAdmin: false };
const admin: Caller = { sub: 'root', isAdmin: true };
const body = { username: 'acme-robot', password: 'S3cret "pass" & more', hosts: ['Portal.Carrier.example', 'portal.carrier.example:8443'] };

let store: MemoryCredentialStore;
let deps: ReturnType<typeof testCredentialDeps>;

beforeEach(() => {
  store = new MemoryCredentialStore();
  deps = testCredentialDeps(store);
});

const fieldsOf = async (work: Promise<unknown>) => ((await work.catch((error: unknown) => error)) as InputInvalid).details;

describe('portal credentials', () => {
  it('stores the value under the owner and answers metadata only, created then rotated', async () => {
    const first = await putCredential(deps, alice, 'acme', {}, body);
    expect(first.created).toBe(true);
    expect(first.credential).toEqual({ name: 'acme', scope: 'own', ref: 'acme', hosts: ['portal.carrier.example', 'portal.carrier.example:8443'], updatedAt: expect.any(String) });
    expect(JSON.stringify(first)).not.toContain(body.password);
    expect(JSON.parse(store.values.get(`${TEST_SECRETS_PREFIX}alice/acme`)!)).toEqual({ username: 'acme-robot', password: body.password });

    const rotated = await putCredential(deps, alice, 'acme', {}, { ...body, password: 'new', hosts: ['other.example'] });
    expect(rotated).toMatchObject({ created: false, credential: { hosts: ['other.example'] } });
  });

  it('lists the caller’s own credentials and the shared ones, never another owner’s, never a value', async () => {
    await putCredential(deps, alice, 'acme', {}, body);
    await putCredential(deps, bob, 'bobs', {}, body);
    await putCredential(deps, admin, 'freight', { scope: 'shared' }, body);

    const listed = await listCredentials(deps, alice);
    expect(listed.secrets.map(({ ref, scope }) => ({ ref, scope }))).toEqual([
      { ref: 'acme', scope: 'own' },
      { ref: 'shared/freight', scope: 'shared' },
    ]);
    expect(JSON.stringify(listed)).not.toContain(body.password);
    await expect(getCredential(deps, alice, 'bobs', {})).rejects.toBeInstanceOf(SecretNotFound);
    await expect(getCredential(deps, alice, 'freight', { scope: 'shared' })).resolves.toMatchObject({ ref: 'shared/freight' });
  });

  it('lets only admins write or delete shared credentials', async () => {
    await expect(putCredential(deps, alice, 'freight', { scope: 'shared' }, body)).rejects.toBeInstanceOf(ForbiddenAction);
    await putCredential(deps, admin, 'freight', { scope: 'shared' }, body);
    await expect(deleteCredential(deps, alice, 'freight', { scope: 'shared' })).rejects.toBeInstanceOf(ForbiddenAction);
    await deleteCredential(deps, admin, 'freight', { scope: 'shared' });
    await expect(getCredential(deps, alice, 'freight', { scope: 'shared' })).rejects.toBeInstanceOf(SecretNotFound);
  });

  it('deletes only the caller’s own credentials', async () => {
    await putCredential(deps, bob, 'bobs', {}, body);
    await expect(deleteCredential(deps, alice, 'bobs', {})).rejects.toBeInstanceOf(SecretNotFound);
    await deleteCredential(deps, bob, 'bobs', {});
    expect(store.values.size).toBe(0);
  });

  it.each([
    ['a name with a slash', 'a/b', body, 'name'],
    ['a name starting with a dot', '.hidden', body, 'name'],
    ['no hosts', 'ok', { ...body, hosts: [] }, 'hosts'],
    ['a URL instead of a host', 'ok', { ...body, hosts: ['https://portal.example/'] }, 'hosts.0'],
    ['too many hosts', 'ok', { ...body, hosts: Array.from({ length: 9 }, (_, i) => `h${i}.example`) }, 'hosts'],
    ['an empty password', 'ok', { ...body, password: '' }, 'password'],
    ['an unknown field', 'ok', { ...body, token: 'x' }, '(root)'],
  ])('refuses %s with the field named', async (_case, name, input, field) => {
    expect(JSON.stringify(await fieldsOf(putCredential(deps, alice, name, {}, input)))).toContain(`"field":"${field}"`);
  });

  it('refuses a scope other than own or shared', async () => {
    expect(JSON.stringify(await fieldsOf(putCredential(deps, admin, 'x', { scope: 'everyone' }, body)))).toContain('"field":"scope"');
  });
});

describe('credential references', () => {
  it.each([
    ['acme', `${TEST_SECRETS_PREFIX}alice/acme`],
    ['shared/freight', `${TEST_SECRETS_PREFIX}shared/freight`],
    [`${TEST_SECRETS_PREFIX}alice/acme`, `${TEST_SECRETS_PREFIX}alice/acme`],
  ])('resolves %s to %s', (ref, secretName) => {
    expect(resolveCredentialRef(ref, TEST_SECRETS_PREFIX, 'alice')).toEqual({ secretName });
  });

  it.each(['bob/acme', `${TEST_SECRETS_PREFIX}bob/acme`, 'shared/a/b', '../x', 'roboport/test/db/master'])('refuses %s for alice', (ref) => {
    expect(resolveCredentialRef(ref, TEST_SECRETS_PREFIX, 'alice')).toHaveProperty('violation');
  });
});

describe('credential checks at submit', () => {
  const use = (ref: string, url = 'https://portal.carrier.example/') => [{ field: 'input.credentialsSecret', ref, url }];

  beforeEach(async () => {
    await putCredential(deps, alice, 'acme', {}, body);
    await putCredential(deps, bob, 'bobs', {}, body);
  });

  it('accepts the owner’s credentials on a bound host (with its port)', async () => {
    await expect(checkCredentialUses(deps, 'alice', use('acme'))).resolves.toBeUndefined();
    await expect(checkCredentialUses(deps, 'alice', use('acme', 'https://portal.carrier.example:8443/login'))).resolves.toBeUndefined();
  });

  it.each([
    ['missing credentials', 'nope', 'https://portal.carrier.example/', /no credentials "nope"/],
    ['someone else’s credentials, answered like missing ones', 'bobs', 'https://portal.carrier.example/', /no credentials "bobs"/],
    ['a portal host the credentials are not bound to', 'acme', 'https://evil.example/', /bound to portal.carrier.example, portal.carrier.example:8443, not to evil.example/],
    ['another port of the bound host', 'acme', 'https://portal.carrier.example:9443/', /not to portal.carrier.example:9443/],
    ['another owner’s full secret name', `${TEST_SECRETS_PREFIX}bob/bobs`, 'https://portal.carrier.example/', /must name a secret under/],
  ])('refuses %s, naming the input field', async (_case, ref, url, message) => {
    const details = (await fieldsOf(checkCredentialUses(deps, 'alice', use(ref, url)))) as { fields: Array<{ field: string; message: string }> };
    expect(details.fields[0]).toMatchObject({ field: 'input.credentialsSecret', message: expect.stringMatching(message) });
  });
});
