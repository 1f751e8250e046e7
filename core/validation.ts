import type { z } from 'zod';
import { InputInvalid } from './errors';

/**
 * Parses `value` with `schema`, or throws InputInvalid naming every offending field (prefixed,
 * e.g. `input.url`) so that clients can point at it.
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, message: string, fieldPrefix?: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({
    field: [fieldPrefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)',
    message: issue.message,
  }));
  throw new InputInvalid(`${message}: ${fields.map((f) => `${f.field} ${f.message}`).join('; ')}`, { fields });
}
