import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';

/**
 * Structured JSON logs through Powertools (the same format and log level settings as the Lambdas),
 * one line per event. Values of keys that look secret are masked, and so is every registered
 * secret value wherever it appears, before Powertools sees the line.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger with more base fields; `secrets` adds values to mask (e.g. the ones a job reads). */
  child(fields: LogFields, secrets?: Set<string>): Logger;
}

const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|credential/i;
const MASK = '***';

/** One Powertools logger per process; service name and level from POWERTOOLS_* variables. */
let processLogger: PowertoolsLogger | undefined;
const powertools = () => (processLogger ??= new PowertoolsLogger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'roboport' }));

export function createLogger(base: LogFields = {}, secrets: Set<string> = new Set()): Logger {
  return loggerMasking(base, [secrets]);
}

/** Secret sets are shared, not copied: a value registered after the logger was made is masked too. */
function loggerMasking(base: LogFields, secretSets: readonly Set<string>[]): Logger {
  const write = (level: 'info' | 'warn' | 'error', message: string, fields?: LogFields) => {
    // A JSON round trip first, so that masking sees exactly the strings that will be printed.
    const attributes = JSON.parse(JSON.stringify({ ...base, ...redact(fields) })) as LogFields;
    powertools()[level](maskText(message, secretSets), maskDeep(attributes, secretSets) as LogFields);
  };
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields, secrets) => loggerMasking({ ...base, ...fields }, secrets ? [...secretSets, secrets] : secretSets),
  };
}

function redact(fields: LogFields | undefined): LogFields {
  if (!fields) return {};
  return Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [key, SECRET_KEY.test(key) ? MASK : value instanceof Error ? describeError(value) : value]),
  );
}

function maskDeep(value: unknown, secretSets: readonly Set<string>[]): unknown {
  if (typeof value === 'string') return maskText(value, secretSets);
  if (Array.isArray(value)) return value.map((entry) => maskDeep(entry, secretSets));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, maskDeep(entry, secretSets)]));
  return value;
}

function maskText(text: string, secretSets: readonly Set<string>[]): string {
  let masked = text;
  for (const secrets of secretSets) for (const secret of secrets) if (secret.length >= 4) masked = masked.split(secret).join(MASK);
  return masked;
}

export function describeError(error: Error): LogFields {
  return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack.split('\n').slice(0, 6).join('\n') } : {}) };
}
