import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalOutputs } from '../../local/stack';

export interface StackProcess {
  outputs: LocalOutputs;
  dataDir: string;
  /** The stack process (the tsx CLI that runs local/start.ts). */
  pid: number;
  /** Everything the stack process printed so far (its Lambdas' log lines included). */
  output(): string;
  /** Ctrl-C, as a developer would stop it; SIGKILL only if it does not stop in time. */
  stop(): Promise<void>;
  /**
   * Sends `signal` to the stack's whole process group (the stack and its worker; started with
   * `ownProcessGroup` only) and waits for the stack process to exit. No cleanup runs on SIGKILL.
   */
  killGroup(signal: NodeJS.Signals): Promise<void>;
}

export interface StackProcessOptions {
  /** Extra arguments to local/start.ts (e.g. --worker-image). */
  args?: string[];
  env?: Record<string, string>;
  /** Start on the data a previous stack left there (kept on stop) instead of fresh data. */
  dataDir?: string;
  /** `last`: the ports of the previous stack on `dataDir`, so that URLs stored in its jobs still work. */
  ports?: 'auto' | 'last';
  /**
   * A process group of its own, so that killGroup() reaches every process of the stack at once.
   * Such a stack does not get the terminal's Ctrl-C: stop it in an afterAll.
   */
  ownProcessGroup?: boolean;
}

const repoRoot = path.resolve(import.meta.dirname, '../..');

/**
 * Starts the real local stack exactly as `npm start` does (own process, any free ports), on fresh data
 * removed on stop, or on the data a previous stack left in `dataDir` (kept on stop, as after Ctrl-C).
 */
export async function startStackProcess({ args = [], env = {}, dataDir: keptDataDir, ports = 'auto', ownProcessGroup = false }: StackProcessOptions = {}): Promise<StackProcess> {
  const dataDir = keptDataDir ?? mkdtempSync(path.join(tmpdir(), 'roboport-e2e-'));
  const dataArgs = keptDataDir ? ['--data-dir', dataDir] : ['--fresh', '--data-dir', dataDir];
  const stack = spawn(path.join(repoRoot, 'node_modules/.bin/tsx'), ['local/start.ts', ...dataArgs, '--ports', ports, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    detached: ownProcessGroup,
  });
  // Killed by a signal, a process has no exit code but a signal code.
  const running = () => stack.exitCode === null && stack.signalCode === null;
  const exited = new Promise<void>((resolve) => stack.once('exit', () => resolve()));
  let log = '';
  stack.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  stack.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const stop = async () => {
    if (running()) {
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
    if (!running() || Date.now() > deadline) {
      await stop();
      throw new Error(`local stack ${running() ? 'did not start within 90 s' : 'exited during start'}:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const killGroup = async (signal: NodeJS.Signals) => {
    if (!ownProcessGroup) throw new Error('killGroup needs a stack started with ownProcessGroup');
    if (running()) process.kill(-stack.pid!, signal);
    await exited;
  };
  return { outputs: JSON.parse(readFileSync(outputsFile, 'utf8')) as LocalOutputs, dataDir, pid: stack.pid!, output: () => log, stop, killGroup };
}
