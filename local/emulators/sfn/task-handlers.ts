import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { TaskFailure } from './api-error';
import { TASK_RESOURCES, type AslDefinition, type AslState } from './definition';
import type { TaskTokens } from './task-tokens';

/** A local stand-in for a Lambda function: receives the Payload, returns the function's result. */
export type LambdaHandler = (payload: unknown) => Promise<unknown>;

export type TaskHandler = (input: unknown) => Promise<unknown>;

/**
 * Value given to aws-local-stepfunctions as `$$.Task.Token`. It does not issue tokens, and one
 * context serves a whole execution, so each task attempt replaces this placeholder with its own token.
 */
export const TASK_TOKEN_PLACEHOLDER = '<local-sfn:task-token>';

export interface ExecutionTaskContext {
  executionArn: string;
  /** Aborted by StopExecution: a task must not start (or retry) for a stopped execution. */
  signal: AbortSignal;
  lambdaHandlers: Record<string, LambdaHandler>;
  sqs: SQSClient;
  taskTokens: TaskTokens;
}

/**
 * One local handler per Task state of the definition (for `taskResourceLocalHandlers`), those in
 * a Map state's ItemProcessor included: aws-local-stepfunctions looks handlers up by state name.
 */
export function buildTaskHandlers(definition: AslDefinition, context: ExecutionTaskContext): Record<string, TaskHandler> {
  return Object.fromEntries(
    taskStates(definition).map(([stateName, state]) => [stateName, notAfterStop(context.signal, taskHandlerFor(stateName, state, context))]),
  );
}

/** Resources this runner can execute; the constructor rejects definitions using others. */
export function assertSupportedTaskResources(definition: AslDefinition): void {
  const supported: readonly string[] = Object.values(TASK_RESOURCES);
  for (const [stateName, state] of taskStates(definition)) {
    if (!supported.includes(state.Resource ?? '')) throw new Error(`Task state ${stateName}: resource ${state.Resource} is not supported locally`);
  }
}

/** Every Task state, nested Map processors included; names must be unique across them (they are, in ours). */
function taskStates(definition: Pick<AslDefinition, 'States'>): Array<[string, AslState]> {
  return Object.entries(definition.States).flatMap(([stateName, state]): Array<[string, AslState]> => {
    if (state.Type === 'Task') return [[stateName, state]];
    const processor = (state.ItemProcessor ?? state.Iterator) as Pick<AslDefinition, 'States'> | undefined;
    return state.Type === 'Map' && processor ? taskStates(processor) : [];
  });
}

function taskHandlerFor(stateName: string, state: AslState, context: ExecutionTaskContext): TaskHandler {
  return state.Resource === TASK_RESOURCES.lambdaInvoke
    ? (input) => invokeLambda(input as LambdaInvokeParameters, context.lambdaHandlers)
    : (input) => sendMessageAndWaitForToken(input as SqsSendMessageParameters, state, context);
}

function notAfterStop(signal: AbortSignal, handler: TaskHandler): TaskHandler {
  return async (input) => {
    if (signal.aborted) throw new TaskFailure('States.Aborted', 'The execution was stopped');
    return handler(input);
  };
}

interface LambdaInvokeParameters {
  FunctionName: string;
  Payload?: unknown;
}

/** Like the lambda:invoke integration: the function's result comes back as `{ Payload }`. */
async function invokeLambda({ FunctionName, Payload }: LambdaInvokeParameters, handlers: Record<string, LambdaHandler>) {
  const handler = handlers[FunctionName];
  if (!handler) throw new TaskFailure('Lambda.ResourceNotFoundException', `Function not found: ${FunctionName}`);
  // Through JSON like a real invocation: undefined becomes null, class instances become plain data.
  const result: unknown = JSON.parse(JSON.stringify((await handler(Payload)) ?? null));
  return { StatusCode: 200, Payload: result };
}

interface SqsSendMessageParameters {
  QueueUrl: string;
  MessageBody: unknown;
}

/** The sqs:sendMessage.waitForTaskToken integration: sends the body with a fresh token, then waits for the callback. */
async function sendMessageAndWaitForToken(
  { QueueUrl, MessageBody }: SqsSendMessageParameters,
  state: AslState,
  { executionArn, sqs, taskTokens }: ExecutionTaskContext,
): Promise<unknown> {
  const { token, result } = taskTokens.issue(executionArn, {
    heartbeatSeconds: state.HeartbeatSeconds,
    timeoutSeconds: state.TimeoutSeconds,
  });
  try {
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: serializeWithToken(MessageBody, token) }));
  } catch (error) {
    taskTokens.fail(token, 'SQS.SdkClientException', error instanceof Error ? error.message : String(error));
  }
  return result;
}

function serializeWithToken(messageBody: unknown, token: string): string {
  if (typeof messageBody === 'string') return messageBody.replaceAll(TASK_TOKEN_PLACEHOLDER, token);
  return JSON.stringify(messageBody, (_key, value: unknown) => (value === TASK_TOKEN_PLACEHOLDER ? token : value));
}
