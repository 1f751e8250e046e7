/**
 * Structured JSON logs, one line per event. Values of keys that look secret are masked, and
 * so is any registered secret value wherever it appears.
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

export function createLogger(base: LogFields = {}, secrets: Set<string> = new Set()): Logger {
  return loggerMasking(base, [secrets]);
}

/** Secret sets are shared, not copied: a value registered after the logger was made is masked too. */
function loggerMasking(base: LogFields, secretSets: readonly Set<string>[]): Logger {
  const write = (level: 'info' | 'warn' | 'error', message: string, fields?: LogFields) => {
    let line = JSON.stringify({ level, time: new Date().toISOString(), message, ...base, ...redact(fields) });
    for (const secrets of secretSets) line = maskSecretValues(line, secrets);
    (level === 'info' ? process.stdout : process.stderr).write(`${line}\n`);
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

function maskSecretValues(line: string, secrets: Set<string>): string {
  let masked = line;
  for (const secret of secrets) if (secret.length >= 4) masked = masked.split(secret).join(MASK);
  return masked;
}

export function describeError(error: Error): LogFields {
  return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack.split('\n').slice(0, 6).join('\n') } : {}) };
}
