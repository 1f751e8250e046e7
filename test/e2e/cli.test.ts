import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { xlsxOf } from '../fixtures/sheets';

const outputs = inject('outputs');
const dataDir = inject('dataDir');
const bin = join(__dirname, '../../cli/bin.mjs');
const work = mkdtempSync(join(tmpdir(), 'roboport-cli-e2e-'));

interface Run { code: number; stdout: string; stderr: string }

/** The CLI as a user runs it: a child process against the shared e2e stack. */
async function roboport(args: string[], options: { dataDir?: string } = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, '--data-dir', options.dataDir ?? dataDir, ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout, stderr: e.stderr };
  }
}

const invoices = Array.from({ length: 5 }, (_, i) => String(300400500 + i));
const portalArgs = () => ['--set', `portalUrl=${outputs.PortalUrl}`, '--set', `credentialsSecret=${outputs.PortalSecretName}`];

async function submitSheet(): Promise<{ jobId: string; input: { invoices: string[] } }> {
  const sheet = join(work, 'invoices.xlsx');
  writeFileSync(sheet, await xlsxOf([['Invoice'], ...invoices.map((n) => [n])]));
  const run = await roboport(['--json', 'submit', '--robot', 'freight-pod-download', '--file', sheet, ...portalArgs(), '--yes']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeAll(async () => {
  const login = await roboport(['login']);
  expect(login.code, login.stderr).toBe(0);
}, 60_000);

describe('roboport CLI against the local stack', () => {
  it('submits a spreadsheet, watches it to SUCCEEDED and downloads every POD, verified and resumable', async () => {
    const job = await submitSheet();
    expect(job.input.invoices).toEqual(invoices);

    const watch = await roboport(['watch', job.jobId, '--poll-interval', '1']);
    expect(watch.code, watch.stderr).toBe(0);
    expect(watch.stdout).toContain('SUCCEEDED');
    // It followed the live event stream, not GET /jobs/{jobId} polls.
    console.log(`roboport watch notes: ${JSON.stringify(watch.stderr.trim())}`);
    expect(watch.stderr).toContain('Following live job events.');
    expect(watch.stderr).not.toMatch(/polling/);

    const dir = join(work, 'pods');
    const first = await roboport(['--json', 'download', job.jobId, '--dir', dir]);
    expect(first.code, first.stderr).toBe(0);
    const pods = readdirSync(join(dir, 'items'), { recursive: true }).map(String).filter((f) => f.endsWith('.pdf'));
    expect(pods.sort()).toEqual(invoices.map((n) => join(n, `POD-${n}.pdf`)));

    const job2 = JSON.parse((await roboport(['--json', 'job', job.jobId])).stdout) as { artifacts: { name: string; sha256: string }[] };
    for (const artifact of job2.artifacts) expect(sha256(join(dir, artifact.name))).toBe(artifact.sha256);

    const second = await roboport(['download', job.jobId, '--dir', dir]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/0 downloaded .* already present/);
  }, 180_000);

  it('cancels a job', async () => {
    const job = await submitSheet();
    const cancel = await roboport(['cancel', job.jobId]);
    expect(cancel.code, cancel.stderr).toBe(0);
    const shown = JSON.parse((await roboport(['--json', 'job', job.jobId])).stdout) as { status: string };
    expect(shown.status).toBe('CANCELLED');
  }, 60_000);

  it('exits 4 for an unknown job id', async () => {
    const run = await roboport(['job', '00000000-0000-0000-0000-000000000000']);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('JOB_NOT_FOUND');
  });

  it('exits 3 when not signed in', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'roboport-cli-nologin-'));
    cpSync(join(dataDir, 'outputs.json'), join(fresh, 'outputs.json'));
    const run = await roboport(['jobs'], { dataDir: fresh });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('roboport login');
  });
});
