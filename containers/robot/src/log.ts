/** One JSON line per event on stdout, which CloudWatch Logs (awslogs) and the local stack collect. */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

type Level = 'info' | 'warn' | 'error';

export function jsonLogger(base: Record<string, unknown> = {}, write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Logger {
  const emit = (level: Level) => (event: string, fields: Record<string, unknown> = {}) =>
    write(JSON.stringify({ time: new Date().toISOString(), level, event, ...base, ...serialisable(fields) }));
  return {
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => jsonLogger({ ...base, ...fields }, write),
  };
}

/** Errors become their name and message (stacks and SDK metadata stay out of the logs). */
function serialisable(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [key, value instanceof Error ? { name: value.name, message: value.message } : value]),
  );
}
