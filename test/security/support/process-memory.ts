import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Memory of the local stack's process, read from /proc (Linux). startStackProcess spawns the tsx
 * CLI, which runs the stack in a node child process: that child is the one measured.
 */
export function stackNodePid(tsxPid: number): number {
  const children = readFileSync(`/proc/${tsxPid}/task/${tsxPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  // The largest child is the stack (tsx starts one node process running local/start.ts).
  return children.map((pid) => ({ pid, rss: statusKiB(pid, 'VmRSS') })).sort((a, b) => b.rss - a.rss)[0]?.pid ?? tsxPid;
}

export function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/**
 * How far the process's resident memory rose above its level before `action`, at its peak:
 * the kernel's high-water mark is reset first (clear_refs 5), and RSS is also sampled every
 * 10 ms in case the reset is not permitted.
 */
export async function peakRssGrowthMiB<T>(pid: number, action: () => Promise<T>): Promise<{ result: T; growthMiB: number }> {
  let resetWorked = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    resetWorked = false;
  }
  const before = statusKiB(pid, 'VmRSS');
  let sampled = before;
  const sampler = setInterval(() => (sampled = Math.max(sampled, statusKiB(pid, 'VmRSS'))), 10);
  try {
    const result = await action();
    sampled = Math.max(sampled, statusKiB(pid, 'VmRSS'));
    const peak = resetWorked ? Math.max(sampled, statusKiB(pid, 'VmHWM')) : sampled;
    return { result, growthMiB: Math.round((peak - before) / 1024) };
  } finally {
    clearInterval(sampler);
  }
}
