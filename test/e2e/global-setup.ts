import type { TestProject } from 'vitest/node';
import type { LocalOutputs } from '../../local/stack';
import { startStackProcess, type StackProcess } from '../support/stack-process';

declare module 'vitest' {
  export interface ProvidedContext {
    outputs: LocalOutputs;
    dataDir: string;
  }
}

let stack: StackProcess | undefined;

/** One local stack, with its supervised robot worker, for every e2e file. */
export async function setup(project: TestProject): Promise<void> {
  stack = await startStackProcess({ env: { WORKER_HEARTBEAT_SECONDS: '2' } });
  project.provide('outputs', stack.outputs);
  project.provide('dataDir', stack.dataDir);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}
