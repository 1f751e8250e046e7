import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type { LocalOutputs } from '../../local/stack';

declare module 'vitest' {
  export interface ProvidedContext {
    outputs: LocalOutputs;
    dataDir: string;
  }
}

const repoRoot = path.resolve(import.meta.dirname, '../..');
let stack: ChildProcess | undefined;
let dataDir: string;

/** Starts the real local stack exactly as `npm start` does (own process, fresh data, any free ports). */
export async function setup(project: TestProject): Promise<void> {
  dataDir = mkdtempSync(path.join(tmpdir(), 'roboport-e2e-'));
  stack = spawn(path.join(repoRoot, 'node_modules/.bin/tsx'), ['local/start.ts', '--fresh', '--data-dir', dataDir, '--ports', 'auto'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WORKER_HEARTBEAT_SECONDS: '2' },
  });
  let log = '';
  stack.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  stack.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const outputsFile = path.join(dataDir, 'outputs.json');
  const deadline = Date.now() + 90_000;
  while (!(existsSync(outputsFile) && log.includes('Roboport is running'))) {
    if (stack.exitCode !== null) throw new Error(`local stack exited during start:\n${log}`);
    if (Date.now() > deadline) throw new Error(`local stack did not start within 90 s:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  project.provide('outputs', JSON.parse(readFileSync(outputsFile, 'utf8')) as LocalOutputs);
  project.provide('dataDir', dataDir);
}

export async function teardown(): Promise<void> {
  if (stack && stack.exitCode === null) {
    const exited = new Promise((resolve) => stack!.once('exit', resolve));
    stack.kill('SIGINT');
    // Ctrl-C must stop everything within the worker's grace period; SIGKILL is the last resort.
    const killTimer = setTimeout(() => stack?.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killTimer);
  }
  rmSync(dataDir, { recursive: true, force: true });
}
