/**
 * Structured JSON logs, one line per event. Values of keys that look secret are masked, and
 * so is any registered secret value wherever it appears.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|credential/i;
const MASK = '***';

export function createLogger(base: LogFields = {}, secrets: Set<string> = new Set()): Logger {
  const write = (level: 'info' | 'warn' | 'error', message: string, fields?: LogFields) => {
    const line = maskSecretValues(JSON.stringify({ level, time: new Date().toISOString(), message, ...base, ...redact(fields) }), secrets);
    (level === 'info' ? process.stdout : process.stderr).write(`${line}\n`);
  };
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => createLogger({ ...base, ...fields }, secrets),
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
