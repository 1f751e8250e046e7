import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** Fields of every Powertools line that a person watching the terminal does not need. */
const QUIET_FIELDS = new Set(['level', 'message', 'timestamp', 'service', 'sampling_rate', 'cold_start', 'xray_trace_id', 'function_request_id']);

/**
 * A Powertools JSON log line as a person reads it, `01:02:03 INFO  item.succeeded item=123456 attempt=1`;
 * any other line comes back as it was.
 */
export function readableLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof entry.message !== 'string' || typeof entry.level !== 'string') return line;
  const time = typeof entry.timestamp === 'string' ? entry.timestamp.slice(11, 19) : undefined;
  const fields = Object.entries(entry)
    .filter(([name]) => !QUIET_FIELDS.has(name))
    .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [time, entry.level.padEnd(5), entry.message, ...fields].filter((part) => part !== undefined).join(' ');
}

/**
 * Makes the JSON lines written to a terminal readable: the local stack's own (its handlers log
 * through Powertools in this process) and, through `pipeReadable`, its workers'. Only for a
 * terminal: tests and tools that read the output as JSON get it unchanged.
 */
export function readableTerminal(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  // Powertools writes each line whole (console.log), so a chunk holds whole lines.
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) =>
    write(typeof chunk === 'string' ? chunk.split('\n').map(readableLogLine).join('\n') : chunk, ...rest)) as typeof stream.write;
}

/** Each line of a child's output, written to `stream` (made readable by readableTerminal). */
export function pipeLines(from: Readable, stream: NodeJS.WriteStream): void {
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => stream.write(`${line}\n`));
}
