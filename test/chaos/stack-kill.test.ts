import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import { isTerminal } from '../support/local-client';
import {
  CHAOS_SEED,
  ChaosStack,
  drain,
  freightJob,
  invoiceBlock,
  isAlive,
  listJobs,
  printFigures,
  processTree,
  robotStarts,
  scaled,
  snapshotJob,
  submitAll,
  verify,
  type ItemView,
} from '../support/chaos';

/**
 * Chaos (e): the whole stack process (API, workflow, queue, worker: its process group) is SIGKILLed
 * with jobs running and queued, then started again on the same data and ports. Queue messages and
 * executions lived in memory and are gone; the restarted stack re-drives every unfinished job,
 * RUNNING ones first, and they resume from their item checkpoints. No process may survive the kill.
 */
const FREIGHT_JOBS = scaled(4, 16);
const INVOICES = 8;
const SNAPSHOT_JOBS = scaled(6, 30);

const dataDir = mkdtempSync(path.join(tmpdir(), 'roboport-chaos-restart-'));
let first: ChaosStack | undefined;
let second: ChaosStack | undefined;
afterAll(async () => {
  await first?.stop('stack-kill-1');
  await second?.stop('stack-kill-2');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('chaos: whole-stack kill', () => {
  it('resumes every unfinished job after a SIGKILL of the stack and a restart on the same data', async () => {
    // Same ports on restart: the jobs' inputs name the portal's and the sandbox's URLs.
    first = await ChaosStack.start({ dataDir, ports: 'last', ownProcessGroup: true });
    const stack = first;
    await stack.setFaults({ latencyMs: 200 });
    const specs = [
      ...Array.from({ length: FREIGHT_JOBS }, (_, block) => freightJob(stack, invoiceBlock(block, INVOICES))),
      ...Array.from({ length: SNAPSHOT_JOBS }, () => snapshotJob(stack)),
    ];
    // One at a time: the queue hands them out about in this order.
    const accepted = await submitAll(stack, specs, 1);
    const isFreight = (jobId: string) => accepted.find((job) => job.jobId === jobId)?.robot === 'freight-pod-download';
    const itemsOf = async (chaos: ChaosStack, jobId: string): Promise<ItemView[]> =>
      (await chaos.client.api('GET', `/jobs/${jobId}/items?limit=100`, { token: chaos.token })).body.items;

    // In flight: two freight jobs running with items done, others still queued.
    await pollUntil(async () => {
      const jobs = [...(await listJobs(stack)).values()];
      const running = jobs.filter((job) => job.status === 'RUNNING' && isFreight(job.jobId));
      if (running.length < 2 || !jobs.some((job) => job.status === 'QUEUED')) return undefined;
      for (const job of running) if ((await itemsOf(stack, job.jobId)).filter((item) => item.status === 'SUCCEEDED').length < 2) return undefined;
      return true;
    }, { timeoutMs: 120_000, intervalMs: 200, description: 'two running freight jobs with items done' });

    // The worker frozen first, so that the picture taken now is the one the kill leaves behind:
    // its robots send the portal nothing more (every request goes through the worker's egress guard).
    process.kill(stack.workerPid(), 'SIGSTOP');
    let downloadsAtKill: Record<string, number> = {};
    await pollUntil(async () => {
      const { downloads } = await stack.portalStats();
      const stable = JSON.stringify(downloads) === JSON.stringify(downloadsAtKill);
      downloadsAtKill = downloads;
      return stable ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 500, description: 'the portal to serve nothing more' });
    const atKill = await listJobs(stack);
    const runningAtKill = accepted.filter((job) => atKill.get(job.jobId)?.status === 'RUNNING');
    const unfinishedAtKill = accepted.filter((job) => !isTerminal(atKill.get(job.jobId) ?? {}));
    const itemsAtKill = new Map<string, ItemView[]>();
    for (const job of runningAtKill) if (job.robot === 'freight-pod-download') itemsAtKill.set(job.jobId, await itemsOf(stack, job.jobId));

    const processes = processTree(stack.stack.pid);
    await stack.stack.killGroup('SIGKILL');
    const survivors = await pollUntil(() => (processes.some(isAlive) ? undefined : []), { timeoutMs: 15_000, intervalMs: 100, description: 'every stack process to end' }).catch(() =>
      processes.filter(isAlive),
    );
    const eventsBefore = stack.events();

    second = await ChaosStack.start({ dataDir, ports: 'last', ownProcessGroup: true });
    const restarted = second;
    const requeued = Number(/Re-queued (\d+) unfinished job/.exec(restarted.stack.output())?.[1] ?? 0);
    const drained = await drain(restarted, accepted, scaled(300_000, 1_200_000));
    const downloadsAfter = (await restarted.portalStats()).downloads;
    const downloads = { ...downloadsAtKill };
    for (const [invoice, count] of Object.entries(downloadsAfter)) downloads[invoice] = (downloads[invoice] ?? 0) + count;
    const result = await verify(restarted, accepted, {
      expect: { 'freight-pod-download': ['SUCCEEDED'], 'web-snapshot': ['SUCCEEDED'] },
      kills: 1,
      events: [...eventsBefore, ...restarted.events()],
      downloads,
      // A job killed between a download and its checkpoint downloads that one invoice again.
      redownloadAllowance: runningAtKill.length,
    });

    // Resumed, not redone: items done before the kill kept their attempt and their file.
    const redone: string[] = [];
    for (const [jobId, before] of itemsAtKill) {
      const after = result.items.get(jobId) ?? [];
      for (const item of before.filter((candidate) => candidate.status === 'SUCCEEDED')) {
        const now = after.find((candidate) => candidate.key === item.key);
        if (now?.attempts !== item.attempts || now.artifact?.sha256 !== item.artifact?.sha256) redone.push(`${jobId}/${item.key}`);
      }
    }
    const startOrder = [...robotStarts(restarted.events())].sort((a, b) => a[1] - b[1]).map(([jobId]) => jobId);
    const firstStarted = startOrder.slice(0, runningAtKill.length).sort();
    printFigures(
      'stack-kill',
      {
        ...result.figures,
        seed: CHAOS_SEED,
        processesKilled: processes.length,
        orphans: survivors.length,
        runningAtKill: runningAtKill.length,
        unfinishedAtKill: unfinishedAtKill.length,
        requeued,
        redoneItems: redone.length,
        drainMs: drained.ms,
      },
      result.problems,
    );

    expect(survivors, 'processes left running after the kill').toEqual([]);
    expect(drained.pending).toEqual([]);
    expect(result.problems).toEqual([]);
    expect(result.figures).toMatchObject({ lost: 0, duplicated: 0, stuck: 0, timedOut: 0 });
    expect(requeued).toBe(unfinishedAtKill.length);
    expect(redone).toEqual([]);
    for (const job of runningAtKill) expect(result.jobs.get(job.jobId)?.attempts).toBeGreaterThan(atKill.get(job.jobId)?.attempts);
    // RUNNING jobs are re-driven first: they are the first the restarted worker starts.
    expect(firstStarted).toEqual(runningAtKill.map((job) => job.jobId).sort());
  });
});
