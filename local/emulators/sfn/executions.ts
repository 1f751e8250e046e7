import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type RunOptions,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { SfnApiError } from './api-error';
import type { AslDefinition } from './definition';
import {
  assertSupportedTaskResources,
  buildTaskHandlers,
  TASK_TOKEN_PLACEHOLDER,
  type LambdaHandler,
  type TaskHandler,
} from './task-handlers';
import type { TaskTokens } from './task-tokens';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  /** The input as the caller sent it (a JSON string), compared for StartExecution idempotency. */
  input: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
}

interface RunningExecution extends Execution {
  stop(): void;
}

export interface LocalExecutionsOptions {
  definition: AslDefinition;
  stateMachineArn: string;
  lambdaHandlers: Record<string, LambdaHandler>;
  sqs: SQSClient;
  taskTokens: TaskTokens;
}

type LocalTaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

const STOPPED = { error: 'States.Aborted', cause: 'The execution was stopped' };

/** The executions of one state machine, run by aws-local-stepfunctions with local task handlers. */
export class LocalExecutions {
  private readonly stateMachine: StateMachine;
  private readonly executions = new Map<string, RunningExecution>();
  /** Task handler calls not yet settled: close() waits for them so the runner's task timers are cleared. */
  private readonly tasksInFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: LocalExecutionsOptions) {
    assertSupportedTaskResources(options.definition);
    // Validated once here (~150 ms); aws-local-stepfunctions checks the definition's full shape.
    this.stateMachine = new StateMachine(options.definition as unknown as StateMachineDefinition);
  }

  /** Like Step Functions: the same name with the same input while running returns the running execution. */
  start(stateMachineArn: string, name: string = randomUUID(), input = '{}'): Execution {
    if (stateMachineArn !== this.options.stateMachineArn) {
      throw new SfnApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    }
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing?.status === 'RUNNING' && existing.input === input) return existing;
    if (existing) throw new SfnApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    const execution = this.run({ executionArn, stateMachineArn, name, input, status: 'RUNNING', startDate: new Date() });
    this.executions.set(executionArn, execution);
    return execution;
  }

  describe(executionArn: string): Execution {
    return this.require(executionArn);
  }

  stop(executionArn: string, error?: string, cause?: string): Execution {
    const execution = this.require(executionArn);
    if (execution.status === 'RUNNING') {
      Object.assign(execution, { status: 'ABORTED', stopDate: new Date(), error, cause });
      execution.stop();
    }
    return execution;
  }

  /** Stops every running execution and waits until none of their task handlers is still pending. */
  async close(): Promise<void> {
    for (const { executionArn } of this.executions.values()) this.stop(executionArn);
    while (this.tasksInFlight.size > 0) await Promise.allSettled([...this.tasksInFlight]);
  }

  private run(execution: Execution): RunningExecution {
    const abortController = new AbortController();
    const { taskTokens } = this.options;
    const handlers = buildTaskHandlers(this.options.definition, { ...this.options, ...execution, signal: abortController.signal });
    const parsedInput = parseInput(execution.input);
    const run = this.stateMachine.run(parsedInput, {
      overrides: { taskResourceLocalHandlers: this.tracked(handlers) },
      context: {
        Execution: { Id: execution.executionArn, Name: execution.name },
        StateMachine: { Id: execution.stateMachineArn },
        Task: { Token: TASK_TOKEN_PLACEHOLDER },
      },
    });
    const running: RunningExecution = {
      ...execution,
      stop: () => {
        abortController.abort(); // first, so that a retry after the cancellation below sends nothing
        taskTokens.cancelExecution(execution.executionArn, STOPPED.error, STOPPED.cause);
        run.abort();
      },
    };
    run.result.then(
      (output) => this.finish(running, { status: 'SUCCEEDED', output: JSON.stringify(output) }),
      (error: unknown) => this.finish(running, outcomeOfFailure(error)),
    );
    return running;
  }

  private finish(execution: RunningExecution, outcome: Partial<Execution>): void {
    // Tokens of Map iterations the runner aborted (a sibling failed) are still pending: no one waits for them now.
    this.options.taskTokens.cancelExecution(execution.executionArn, STOPPED.error, 'The execution has ended');
    if (execution.status !== 'RUNNING') return; // stopped meanwhile: ABORTED stays
    Object.assign(execution, outcome, { stopDate: new Date() });
  }

  /** Results are JSON by construction: lambda results pass through JSON, task outputs are parsed JSON. */
  private tracked(handlers: Record<string, TaskHandler>): LocalTaskHandlers {
    const track = (handler: TaskHandler) => (input: unknown) => {
      const call = handler(input);
      const forget = () => this.tasksInFlight.delete(call);
      this.tasksInFlight.add(call);
      call.then(forget, forget);
      return call;
    };
    return Object.fromEntries(Object.entries(handlers).map(([name, handler]) => [name, track(handler)])) as LocalTaskHandlers;
  }

  private require(executionArn: string): RunningExecution {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new SfnApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }
}

function parseInput(input: string): Parameters<StateMachine['run']>[0] {
  try {
    return JSON.parse(input);
  } catch {
    throw new SfnApiError('InvalidExecutionInput', 'Invalid execution input: not JSON');
  }
}

/** ExecutionError wraps the state error: its name is the ASL error, its message the cause. */
function outcomeOfFailure(error: unknown): Partial<Execution> {
  if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout' };
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    return { status: 'FAILED', error: error.cause.name, cause: error.cause.message };
  }
  return { status: 'FAILED', error: 'States.Runtime', cause: String(error) };
}
