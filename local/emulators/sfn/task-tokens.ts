import { randomUUID } from 'node:crypto';
import { SfnApiError, TaskFailure } from './api-error';

export interface TaskTimeouts {
  /** The task fails with States.HeartbeatTimeout when no heartbeat (or result) arrives within this time. */
  heartbeatSeconds?: number;
  /** The task fails with States.Timeout this long after it started, heartbeats or not. */
  timeoutSeconds?: number;
}

export interface IssuedTaskToken {
  token: string;
  /** Settles with the output of SendTaskSuccess, or rejects with a TaskFailure. */
  result: Promise<unknown>;
}

interface PendingTask {
  executionArn: string;
  result: Promise<unknown>;
  heartbeatMs?: number;
  resolve(output: unknown): void;
  reject(failure: TaskFailure): void;
  timers: { heartbeat?: NodeJS.Timeout; timeout?: NodeJS.Timeout };
}

const TOKEN_PREFIX = 'local-task-';

/**
 * The `.waitForTaskToken` callbacks that are waiting: one token per task attempt, completed by
 * SendTaskSuccess/SendTaskFailure, kept alive by SendTaskHeartbeat, failed by its timers.
 * Every way out of a pending task goes through settle(), which clears its timers.
 */
export class TaskTokens {
  private readonly pending = new Map<string, PendingTask>();

  issue(executionArn: string, { heartbeatSeconds, timeoutSeconds }: TaskTimeouts): IssuedTaskToken {
    const token = `${TOKEN_PREFIX}${randomUUID()}`;
    let settlers!: Pick<PendingTask, 'resolve' | 'reject'>;
    const result = new Promise<unknown>((resolve, reject) => {
      settlers = { resolve, reject };
    });
    const heartbeatMs = heartbeatSeconds === undefined ? undefined : heartbeatSeconds * 1000;
    const task: PendingTask = { executionArn, result, heartbeatMs, ...settlers, timers: {} };
    this.pending.set(token, task);
    if (timeoutSeconds !== undefined) {
      task.timers.timeout = setTimeout(
        () => this.fail(token, 'States.Timeout', `The task did not complete within ${timeoutSeconds} s`),
        timeoutSeconds * 1000,
      );
    }
    this.restartHeartbeatTimer(token, task);
    return { token, result };
  }

  succeed(token: string, output: unknown): void {
    this.settle(token, (task) => task.resolve(output));
  }

  fail(token: string, error: string, cause: string): void {
    this.settle(token, (task) => task.reject(new TaskFailure(error, cause)));
  }

  heartbeat(token: string): void {
    this.restartHeartbeatTimer(token, this.require(token));
  }

  /** Fails the tasks still waiting for this execution (stopped or finished), so no token outlives it. */
  cancelExecution(executionArn: string, error: string, cause: string): void {
    for (const [token, task] of this.pending) {
      if (task.executionArn !== executionArn) continue;
      // The task that waited may have been aborted already (a Map iteration): nobody else handles the failure.
      task.result.catch(() => undefined);
      this.fail(token, error, cause);
    }
  }

  private restartHeartbeatTimer(token: string, task: PendingTask): void {
    if (task.heartbeatMs === undefined) return;
    clearTimeout(task.timers.heartbeat);
    task.timers.heartbeat = setTimeout(
      () => this.fail(token, 'States.HeartbeatTimeout', `No heartbeat within ${task.heartbeatMs! / 1000} s`),
      task.heartbeatMs,
    );
  }

  private settle(token: string, complete: (task: PendingTask) => void): void {
    const task = this.require(token);
    this.pending.delete(token);
    clearTimeout(task.timers.heartbeat);
    clearTimeout(task.timers.timeout);
    complete(task);
  }

  /** Like Step Functions: a malformed token is InvalidToken, a token no longer waiting is TaskTimedOut. */
  private require(token: string): PendingTask {
    if (!token.startsWith(TOKEN_PREFIX)) throw new SfnApiError('InvalidToken', 'Invalid token');
    const task = this.pending.get(token);
    if (!task) throw new SfnApiError('TaskTimedOut', 'Task Timed Out: provided task does not exist anymore');
    return task;
  }
}
