import { describe, expect, it, vi } from 'vitest';
import { authorize, decodePathValues } from '../../local/api-gateway';
import { groupsOf } from '../../functions/shared/http';

describe('local API Gateway: path decoding', () => {
  it('decodes well-formed escapes', () => {
    expect(decodePathValues(['a%20b', 'caf%C3%A9', '%F0%9F%98%80'])).toEqual(['a b', 'café', '😀']);
  });

  it.each([
    ['not hex', '%ZZ'],
    ['cut short', 'abc%4'],
    ['overlong UTF-8 for "/"', '%C0%AF'],
    ['overlong UTF-8, three bytes', '%E0%80%AF'],
    ['a UTF-16 surrogate in UTF-8', '%ED%A0%80'],
    ['a lone continuation byte', '%80'],
  ])('refuses %s (%s)', (_label, raw) => {
    expect(decodePathValues(['fine', raw])).toBeUndefined();
  });
});

describe('local API Gateway: the Authorization header', () => {
  const verify = vi.fn(async (token: string) => ({ sub: 'alice', token }));

  it.each([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc.def.ghi', 'abc.def.ghi'],
  ])('takes the token of %j', async (header, token) => {
    expect(await authorize(header, verify)).toMatchObject({ sub: 'alice', token });
  });

  it.each([undefined, '', 'abc.def.ghi', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Token abc.def.ghi', 'Bearerabc.def.ghi'])(
    'refuses %j without asking the verifier',
    async (header) => {
      verify.mockClear();
      expect(await authorize(header, verify)).toBeUndefined();
      expect(verify).not.toHaveBeenCalled();
    },
  );

  it('refuses a token the verifier rejects', async () => {
    expect(await authorize('Bearer x', async () => Promise.reject(new Error('expired')))).toBeUndefined();
  });

  it.each([
    [['admins'], 'admins'],
    [['clients', 'admins'], '[clients admins]'],
    [['x,admins'], 'x,admins'],
  ])('presents groups %j as API Gateway does (%j), read back exactly', async (groups, presented) => {
    const claims = await authorize('Bearer t', async () => ({ sub: 'alice', 'cognito:groups': groups }));
    expect(claims?.['cognito:groups']).toBe(presented);
    expect(groupsOf(claims?.['cognito:groups'])).toEqual(groups);
  });
});
