import { readdirSync, readFileSync } from 'node:fs';

/**
 * Peak memory of this process and its descendants (Chromium's browser, GPU, renderer ...
 * processes), sampled from /proc. PSS splits shared pages between the processes that share
 * them, so the sum is not inflated by Chromium's shared libraries. Linux only; elsewhere the
 * sampler reports nothing.
 */
export class ProcessTreeMemory {
  private timer: NodeJS.Timeout | undefined;
  private peakKb = 0;
  readonly supported = readable('/proc/self/smaps_rollup');

  constructor(private readonly intervalMs = 250) {}

  start(): void {
    this.peakKb = 0;
    if (!this.supported) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  /** Stops sampling; the peak in MiB since start(), undefined where /proc is not available. */
  stop(): number | undefined {
    clearInterval(this.timer);
    if (!this.supported) return undefined;
    this.sample();
    return this.peakKb / 1024;
  }

  private sample(): void {
    const total = treeOf(process.pid).reduce((sum, pid) => sum + pssKb(pid), 0);
    this.peakKb = Math.max(this.peakKb, total);
  }
}

function treeOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = parentOf(Number(entry));
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const pending = [root];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Field 4 of /proc/PID/stat; the command name before it may contain spaces and parentheses. */
function parentOf(pid: number): number | undefined {
  const stat = readOrUndefined(`/proc/${pid}/stat`);
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields?.[1] === undefined ? undefined : Number(fields[1]);
}

function pssKb(pid: number): number {
  const match = /^Pss:\s+(\d+) kB/m.exec(readOrUndefined(`/proc/${pid}/smaps_rollup`) ?? '');
  return match ? Number(match[1]) : 0;
}

/** Processes come and go while the tree is read: a vanished one counts as nothing. */
function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readable(file: string): boolean {
  return readOrUndefined(file) !== undefined;
}
