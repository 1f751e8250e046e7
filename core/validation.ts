import type * as z from 'zod';
import type { $ZodRawIssue } from 'zod/v4/core';
import { InputInvalid } from './errors';

/**
 * Parses `value` with `schema`, or throws InputInvalid naming every offending field (prefixed,
 * e.g. `input.url`) so that clients can point at it, each with a message a person can act on
 * ("must be an http(s) URL"), not the parser's wording.
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, message: string, fieldPrefix?: string): T {
  const result = schema.safeParse(value, { error: plainMessage });
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({
    field: [fieldPrefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)',
    message: issue.message,
  }));
  throw new InputInvalid(`${message}: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, { fields });
}

const TYPE_NAMES: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  record: 'an object',
  date: 'a date',
};

const FORMAT_NAMES: Record<string, string> = {
  url: 'an http(s) URL',
  email: 'an email address',
  uuid: 'a UUID',
  guid: 'a UUID',
  datetime: 'an ISO 8601 date-time such as 2026-01-31T09:00:00Z',
  date: 'a date such as 2026-01-31',
  time: 'a time such as 09:00:00',
  duration: 'an ISO 8601 duration such as PT5M',
  ipv4: 'an IPv4 address',
  ipv6: 'an IPv6 address',
  base64: 'base64 text',
};

const quoted = (values: readonly unknown[]) => values.map((value) => JSON.stringify(value)).join(', ');
const plural = (count: number | bigint, one: string, many: string) => `${count} ${Number(count) === 1 ? one : many}`;

/**
 * Plain messages for zod 4's issue codes. Messages a schema states itself (refinements, custom
 * errors) take precedence over this map (zod's order), so they reach the client unchanged.
 */
export function plainMessage(issue: $ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case 'invalid_format':
      if (issue.format === 'regex' && 'pattern' in issue && typeof issue.pattern === 'string') return `must match the pattern ${issue.pattern}`;
      if (issue.format === 'starts_with' && 'prefix' in issue) return `must start with ${JSON.stringify(issue.prefix)}`;
      if (issue.format === 'ends_with' && 'suffix' in issue) return `must end with ${JSON.stringify(issue.suffix)}`;
      if (issue.format === 'includes' && 'includes' in issue) return `must contain ${JSON.stringify(issue.includes)}`;
      return `must be ${FORMAT_NAMES[issue.format] ?? `a valid ${issue.format}`}`;
    case 'too_small':
      return sizeMessage(issue.origin, issue.minimum, issue.inclusive !== false, 'least');
    case 'too_big':
      return sizeMessage(issue.origin, issue.maximum, issue.inclusive !== false, 'most');
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${quoted(issue.values)}` : `must be one of ${quoted(issue.values)}`;
    case 'unrecognized_keys':
      return `has unknown ${issue.keys.length === 1 ? 'field' : 'fields'} ${quoted(issue.keys)}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'invalid_union':
      return 'does not match any accepted form';
    case 'invalid_key':
      return 'has an invalid key';
    case 'invalid_element':
      return 'has an invalid entry';
    default:
      return 'is invalid';
  }
}

function sizeMessage(origin: string, bound: number | bigint, inclusive: boolean, side: 'least' | 'most'): string {
  switch (origin) {
    case 'string':
      if (side === 'least' && Number(bound) === 1 && inclusive) return 'must not be empty';
      return `must be at ${side} ${plural(bound, 'character', 'characters')} long`;
    case 'array':
    case 'set':
      if (side === 'least' && Number(bound) === 1 && inclusive) return 'must have at least one entry';
      return `must have at ${side} ${plural(bound, 'entry', 'entries')}`;
    case 'file':
      return `must be at ${side} ${plural(bound, 'byte', 'bytes')}`;
    default:
      if (!inclusive) return `must be ${side === 'least' ? 'greater' : 'less'} than ${bound}`;
      return `must be at ${side} ${bound}`;
  }
}
