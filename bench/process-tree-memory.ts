import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Peak memory of this process (or of the given root processes) and their descendants (Chromium's browser, GPU, renderer ...
 * processes), sampled from /proc. PSS splits shared pages between the processes that share
 * them, so the sum is not inflated by Chromium's shared libraries. Reads are asynchronous, so
 * sampling does not stall the event loop the measured jobs run on. Linux only; elsewhere the
 * sampler reports nothing.
 */
export class ProcessTreeMemory {
  private peakKb = 0;
  private sampling: Promise<void> | undefined;
  private stopped = new AbortController();

  /** `roots`: whose trees to sum, asked at every sample (processes restart); this process by default. */
  constructor(
    private readonly intervalMs = 500,
    private readonly roots: () => number[] = () => [process.pid],
  ) {}

  start(): void {
    this.peakKb = 0;
    this.stopped = new AbortController();
    const stopped = this.stopped.signal;
    const loop = async () => {
      while (!stopped.aborted) {
        this.peakKb = Math.max(this.peakKb, await treesPssKb(this.roots()));
        await sleep(this.intervalMs, undefined, { signal: stopped }).catch(() => undefined);
      }
    };
    this.sampling = loop();
  }

  /** Stops sampling: the peak in MiB since start(), undefined where /proc is not available. */
  async stop(): Promise<number | undefined> {
    this.stopped.abort();
    await this.sampling;
    return this.peakKb > 0 ? this.peakKb / 1024 : undefined;
  }
}

export async function treesPssKb(roots: number[]): Promise<number> {
  const pids = (await readdir('/proc').catch(() => [])).filter((entry) => /^\d+$/.test(entry)).map(Number);
  const parents = await Promise.all(pids.map(parentOf));
  const children = new Map<number, number[]>();
  pids.forEach((pid, index) => {
    const parent = parents[index];
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
  });
  const tree = new Set<number>();
  const pending = [...roots];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    if (tree.has(pid)) continue;
    tree.add(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  const pss = await Promise.all([...tree].map(pssKb));
  return pss.reduce((sum, kb) => sum + kb, 0);
}

/** Field 4 of /proc/PID/stat; the command name before it may contain spaces and parentheses. */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readOrUndefined(`/proc/${pid}/stat`);
  const parent = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  return parent === undefined ? undefined : Number(parent);
}

async function pssKb(pid: number): Promise<number> {
  const match = /^Pss:\s+(\d+) kB/m.exec((await readOrUndefined(`/proc/${pid}/smaps_rollup`)) ?? '');
  return match ? Number(match[1]) : 0;
}

/** Processes come and go while the tree is read: a vanished one counts as nothing. */
async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}
