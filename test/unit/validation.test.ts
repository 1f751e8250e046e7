import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { InputInvalid } from '../../core/errors';
import { parseOrThrow } from '../../core/validation';
import { webSnapshot } from '../../robots/web-snapshot';

/** The `details.fields` a failed parse reports, or undefined when it passes. */
function fieldsOf(schema: z.ZodType, value: unknown, prefix?: string) {
  try {
    parseOrThrow(schema, value, 'Submission is invalid', prefix);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(InputInvalid);
    return (error as InputInvalid).details as { fields: Array<{ field: string; message: string }> };
  }
}

describe('validation messages', () => {
  const schema = z.strictObject({
    name: z.string().min(1).max(5),
    count: z.number().int().min(1).max(10),
    ratio: z.number().gt(0),
    formats: z.array(z.enum(['pdf', 'png'])).min(1).max(2),
    kind: z.literal('job'),
    callbackUrl: z.url({ protocol: /^https?$/ }).optional(),
    code: z.string().regex(/^\d{6}$/).optional(),
    even: z.number().multipleOf(2).optional(),
    flag: z.boolean().optional(),
  });
  const valid = { name: 'ok', count: 1, ratio: 0.5, formats: ['pdf'], kind: 'job' };

  it.each([
    ['a missing field', { ...valid, name: undefined }, 'name', 'is required'],
    ['a wrong type', { ...valid, count: 'three' }, 'count', 'must be a number'],
    ['a fraction for an integer', { ...valid, count: 1.5 }, 'count', 'must be a whole number'],
    ['a boolean', { ...valid, flag: 'yes' }, 'flag', 'must be true or false'],
    ['an empty string', { ...valid, name: '' }, 'name', 'must not be empty'],
    ['a long string', { ...valid, name: 'toolong' }, 'name', 'must be at most 5 characters long'],
    ['a small number', { ...valid, count: 0 }, 'count', 'must be at least 1'],
    ['a big number', { ...valid, count: 11 }, 'count', 'must be at most 10'],
    ['an exclusive bound', { ...valid, ratio: 0 }, 'ratio', 'must be greater than 0'],
    ['an empty list', { ...valid, formats: [] }, 'formats', 'must have at least one entry'],
    ['a long list', { ...valid, formats: ['pdf', 'png', 'pdf'] }, 'formats', 'must have at most 2 entries'],
    ['an enum value', { ...valid, formats: ['gif'] }, 'formats.0', 'must be one of "pdf", "png"'],
    ['a literal', { ...valid, kind: 'other' }, 'kind', 'must be "job"'],
    ['a URL', { ...valid, callbackUrl: 'ftp://example.com/' }, 'callbackUrl', 'must be an http(s) URL'],
    ['a pattern', { ...valid, code: '12' }, 'code', 'must match the pattern /^\\d{6}$/'],
    ['a multiple', { ...valid, even: 3 }, 'even', 'must be a multiple of 2'],
    ['an unknown key', { ...valid, extra: 1 }, '(root)', 'has unknown field "extra"'],
  ])('%s reads as a plain message on its field', (_case, value, field, message) => {
    expect(fieldsOf(schema, value)?.fields).toEqual([{ field, message }]);
  });

  it('keeps the field path with its prefix and states fields in the summary message', () => {
    let thrown: unknown;
    try {
      parseOrThrow(z.object({ url: z.url({ protocol: /^https?$/ }) }), { url: 'not a url' }, 'Input for robot web-snapshot is invalid', 'input');
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(InputInvalid);
    expect((thrown as InputInvalid).message).toBe('Input for robot web-snapshot is invalid: input.url: must be an http(s) URL');
    expect((thrown as InputInvalid).details).toEqual({ fields: [{ field: 'input.url', message: 'must be an http(s) URL' }] });
  });

  it("keeps a schema's own messages (refinements) unchanged", () => {
    const refined = z.string().refine((text) => text.startsWith('NF'), 'must start with NF, the invoice series');

    expect(fieldsOf(refined, 'XX', 'input.invoice')?.fields).toEqual([{ field: 'input.invoice', message: 'must start with NF, the invoice series' }]);
  });

  it("reads a robot's input the same way", () => {
    expect(fieldsOf(webSnapshot.input, { url: 'mailto:someone@example.com', formats: ['gif'] }, 'input')?.fields).toEqual(
      expect.arrayContaining([
        { field: 'input.url', message: 'must be an http(s) URL' },
        { field: 'input.formats.0', message: 'must be one of "pdf", "png"' },
      ]),
    );
  });
});
