import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { WorkflowStarter } from '../ports';
import type { WorkflowInput } from '../workflow-contract';

/**
 * Starts one execution per job, named after the job: Step Functions Standard treats a repeated
 * StartExecution with the same name and input as the same execution, so retries are safe.
 */
export class SfnWorkflowStarter implements WorkflowStarter {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(jobId: string): Promise<string> {
    const input: WorkflowInput = { jobId };
    try {
      const { executionArn } = await this.client.send(
        new StartExecutionCommand({ stateMachineArn: this.stateMachineArn, name: jobId, input: JSON.stringify(input) }),
      );
      if (!executionArn) throw new Error('StartExecution returned no executionArn');
      return executionArn;
    } catch (error) {
      // Same name, different input cannot happen (the input is the name); anything else is real.
      if (error instanceof ExecutionAlreadyExists) return executionArnFor(this.stateMachineArn, jobId);
      throw error;
    }
  }
}

/** arn:aws:states:region:account:stateMachine:Name → arn:aws:states:region:account:execution:Name:jobId */
export function executionArnFor(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
}
