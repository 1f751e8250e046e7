import type { SQSClient } from '@aws-sdk/client-sqs';
import { SfnApiError } from './sfn/api-error';
import { createAwsJsonServer, epochSeconds, optionalString, requiredString, type AwsJsonAction } from './aws-json-server';
import type { AslDefinition } from './sfn/definition';
import { LocalExecutions, type Execution } from './sfn/executions';
import type { LambdaHandler } from './sfn/task-handlers';
import { TaskTokens } from './sfn/task-tokens';
import { closeServer, listenOnLoopback } from './http-server';

export type { AslDefinition } from './sfn/definition';
export type { LambdaHandler } from './sfn/task-handlers';

export interface LocalStepFunctionsOptions {
  /** The ASL definition, e.g. buildJobWorkflowDefinition(...) with the local queue URL and function ARNs. */
  definition: AslDefinition;
  stateMachineArn: string;
  /** lambda:invoke tasks call the handler registered under their FunctionName. */
  lambdaHandlers: Record<string, LambdaHandler>;
  /** Sends the messages of sqs:sendMessage.waitForTaskToken tasks (to the local queue). */
  sqs: SQSClient;
  port?: number;
}

export interface LocalStepFunctions {
  /** Value for AWS_ENDPOINT_URL_SFN. */
  endpoint: string;
  stateMachineArn: string;
  /** Stops running executions, fails pending task tokens, clears every timer, closes the server. */
  close(): Promise<void>;
}

/**
 * Runs the workflow locally behind the Step Functions API subset the project uses (StartExecution,
 * DescribeExecution, StopExecution, SendTaskSuccess/Failure/Heartbeat), so @aws-sdk/client-sfn
 * callers work unchanged. Executions live in memory only.
 */
export async function startLocalStepFunctions(options: LocalStepFunctionsOptions): Promise<LocalStepFunctions> {
  installPromiseWithResolvers();
  const taskTokens = new TaskTokens();
  const executions = new LocalExecutions({ ...options, taskTokens });
  const server = createAwsJsonServer('AWSStepFunctions', stepFunctionsActions(executions, taskTokens));
  const endpoint = await listenOnLoopback(server, options.port);
  return {
    endpoint,
    stateMachineArn: options.stateMachineArn,
    close: async () => {
      await executions.close();
      await closeServer(server);
    },
  };
}

function stepFunctionsActions(executions: LocalExecutions, taskTokens: TaskTokens): Record<string, AwsJsonAction> {
  return {
    StartExecution: (request) => {
      const execution = executions.start(
        requiredString(request, 'stateMachineArn'),
        optionalString(request, 'name'),
        optionalString(request, 'input'),
      );
      return { executionArn: execution.executionArn, startDate: epochSeconds(execution.startDate) };
    },
    DescribeExecution: (request) => describeExecution(executions.describe(requiredString(request, 'executionArn'))),
    StopExecution: (request) => {
      const execution = executions.stop(
        requiredString(request, 'executionArn'),
        optionalString(request, 'error'),
        optionalString(request, 'cause'),
      );
      return { stopDate: epochSeconds(execution.stopDate ?? new Date()) };
    },
    SendTaskSuccess: (request) => {
      taskTokens.succeed(requiredString(request, 'taskToken'), parseTaskOutput(requiredString(request, 'output')));
      return {};
    },
    SendTaskFailure: (request) => {
      const error = optionalString(request, 'error') ?? '';
      taskTokens.fail(requiredString(request, 'taskToken'), error, optionalString(request, 'cause') ?? '');
      return {};
    },
    SendTaskHeartbeat: (request) => {
      taskTokens.heartbeat(requiredString(request, 'taskToken'));
      return {};
    },
  };
}

function describeExecution({ executionArn, stateMachineArn, name, input, status, output, error, cause, startDate, stopDate }: Execution): object {
  return {
    executionArn,
    stateMachineArn,
    name,
    input,
    status,
    output,
    error,
    cause,
    startDate: epochSeconds(startDate),
    stopDate: stopDate && epochSeconds(stopDate),
  };
}

function parseTaskOutput(output: string): unknown {
  try {
    return JSON.parse(output);
  } catch {
    throw new SfnApiError('InvalidOutput', 'Invalid output: not JSON');
  }
}

/** aws-local-stepfunctions 3.0 calls Promise.withResolvers, which Node 20 lacks (it came with Node 22). */
function installPromiseWithResolvers(): void {
  const promise = Promise as PromiseConstructor & { withResolvers?: unknown };
  promise.withResolvers ??= function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const created = new Promise<T>((resolvePromise, rejectPromise) => {
      resolve = resolvePromise;
      reject = rejectPromise;
    });
    return { promise: created, resolve, reject };
  };
}
