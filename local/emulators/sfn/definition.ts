/**
 * The parts of an Amazon States Language definition the local runner reads itself. Loose on
 * purpose: definitions built as plain objects (core/workflow-definition.ts) have `Type: string`,
 * and aws-local-stepfunctions validates the whole definition when it is loaded.
 */
export interface AslState {
  Type: string;
  Resource?: string;
  HeartbeatSeconds?: number;
  TimeoutSeconds?: number;
  [field: string]: unknown;
}

export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  [field: string]: unknown;
}

export const TASK_RESOURCES = {
  lambdaInvoke: 'arn:aws:states:::lambda:invoke',
  sqsSendMessageWaitForTaskToken: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
} as const;
