/**
 * What commands print: a result on stdout (a human rendering, or JSON with `--json`), and notes
 * (progress, hints) on stderr, so that `roboport ... --json | jq` always reads clean JSON.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  result(data: unknown, human: () => string | string[]): void {
    const text = this.json ? JSON.stringify(data, null, 2) : [human()].flat().join('\n');
    if (text) this.stdout.write(`${text}\n`);
  }

  note(message: string): void {
    this.stderr.write(`${message}\n`);
  }
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: Array<Array<string | number | undefined>>): string[] {
  const cells = [header, ...rows.map((row) => row.map((cell) => (cell === undefined ? '' : String(cell))))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** 75 → "1m 15s", 3720 → "1h 2m". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / 1024 / 1024).toFixed(1)} MiB`;
}
