import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pipeLines } from './readable-logs';

/**
 * Runs the robot worker as its own process, as Fargate would, and restarts it when it dies
 * (with a growing pause, so a worker that crashes at start does not spin).
 */
export interface WorkerSupervisorOptions {
  repoRoot: string;
  env: Record<string, string>;
  /** What to run; default the worker's TypeScript source (`--worker-image`: the image's build, local/worker-image.ts). */
  command?: WorkerCommand;
  /** Longest pause before a restart (default 10 s); tests that kill the worker often shorten it. */
  maxRestartDelayMs?: number;
  /** Called with each new worker's pid (tests kill it; start.ts records it). */
  onStart?: (pid: number) => void;
  log?: (line: string) => void;
  /** Where the worker's output goes, line by line; default: the supervisor's own stdout and stderr, as they are. */
  output?: NodeJS.WriteStream;
}

export interface WorkerCommand {
  command: string;
  args: string[];
  cwd: string;
  /** Under the supervisor's `env` (as an image's ENV is under its task definition's). */
  env?: Record<string, string>;
}

export interface WorkerSupervisor {
  readonly pid: number | undefined;
  /** SIGTERM, then SIGKILL after the grace period; no restart afterwards. */
  stop(graceMs?: number): Promise<void>;
}

export const MAX_RESTART_DELAY_MS = 10_000;
/** SIGTERM → SIGKILL: the worker's open receive returns well within it (core/delivery.ts LONG_POLL_SECONDS). */
export const STOP_GRACE_MS = 15_000;

export function superviseWorker(options: WorkerSupervisorOptions): WorkerSupervisor {
  const log = options.log ?? ((line) => process.stdout.write(`${line}\n`));
  let child: ChildProcess | undefined;
  let stopping = false;
  const maxRestartDelayMs = options.maxRestartDelayMs ?? MAX_RESTART_DELAY_MS;
  let restartDelayMs = Math.min(500, maxRestartDelayMs);
  let restartTimer: NodeJS.Timeout | undefined;
  const worker = options.command ?? sourceCommand(options.repoRoot);

  const launch = () => {
    const started = Date.now();
    child = spawn(worker.command, worker.args, {
      cwd: worker.cwd,
      env: { ...process.env, ...worker.env, ...options.env },
      stdio: ['ignore', options.output ? 'pipe' : 'inherit', options.output ? 'pipe' : 'inherit'],
    });
    if (options.output && child.stdout && child.stderr) {
      pipeLines(child.stdout, options.output);
      pipeLines(child.stderr, options.output);
    }
    if (child.pid) options.onStart?.(child.pid);
    child.once('exit', (code, signal) => {
      child = undefined;
      if (stopping) return;
      // A worker that ran for a while gets restarted quickly again.
      restartDelayMs = Math.min(Date.now() - started > 30_000 ? 500 : restartDelayMs * 2, maxRestartDelayMs);
      log(`worker exited (${signal ?? `code ${code}`}); restarting in ${restartDelayMs} ms`);
      restartTimer = setTimeout(launch, restartDelayMs);
    });
  };
  launch();

  return {
    get pid() {
      return child?.pid;
    },
    async stop(graceMs = STOP_GRACE_MS) {
      stopping = true;
      clearTimeout(restartTimer);
      const running = child;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGTERM');
      const killTimer = setTimeout(() => running.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killTimer);
    },
  };
}

/**
 * Node itself with tsx as a loader, not the tsx CLI: the CLI runs the script in a child process,
 * which a SIGKILL of the CLI's pid would leave running as an orphan.
 */
function sourceCommand(repoRoot: string): WorkerCommand {
  return { command: process.execPath, args: ['--import', 'tsx', path.join(repoRoot, 'containers/robot/src/main.ts')], cwd: repoRoot };
}
