import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalOutputs } from '../../local/stack';

export interface StackProcess {
  outputs: LocalOutputs;
  dataDir: string;
  /** Everything the stack process printed so far (its Lambdas' log lines included). */
  output(): string;
  /** Ctrl-C, as a developer would stop it; SIGKILL only if it does not stop in time. */
  stop(): Promise<void>;
}

const repoRoot = path.resolve(import.meta.dirname, '../..');

/**
 * Starts the real local stack exactly as `npm start` does (own process, any free ports), on fresh data
 * removed on stop, or on the data a previous stack left in `dataDir` (kept on stop, as after Ctrl-C).
 */
export async function startStackProcess({ args = [], env = {}, dataDir: keptDataDir }: { args?: string[]; env?: Record<string, string>; dataDir?: string } = {}): Promise<StackProcess> {
  const dataDir = keptDataDir ?? mkdtempSync(path.join(tmpdir(), 'roboport-e2e-'));
  const dataArgs = keptDataDir ? ['--data-dir', dataDir] : ['--fresh', '--data-dir', dataDir];
  const stack = spawn(path.join(repoRoot, 'node_modules/.bin/tsx'), ['local/start.ts', ...dataArgs, '--ports', 'auto', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  stack.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  stack.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const stop = async () => {
    if (stack.exitCode === null) {
      const exited = new Promise((resolve) => stack.once('exit', resolve));
      stack.kill('SIGINT');
      // Ctrl-C must stop everything within the worker's grace period; SIGKILL is the last resort.
      const killTimer = setTimeout(() => stack.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killTimer);
    }
    if (!keptDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const outputsFile = path.join(dataDir, 'outputs.json');
  const deadline = Date.now() + 90_000;
  while (!(existsSync(outputsFile) && log.includes('Roboport is running'))) {
    if (stack.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`local stack ${stack.exitCode !== null ? 'exited during start' : 'did not start within 90 s'}:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { outputs: JSON.parse(readFileSync(outputsFile, 'utf8')) as LocalOutputs, dataDir, output: () => log, stop };
}
