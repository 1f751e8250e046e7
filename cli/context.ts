import type { Command } from 'commander';
import { ApiClient } from './api-client';
import { Output } from './output';
import { SessionStore } from './session';
import { resolveTarget, type Target } from './target';

/** The options every command takes (main.ts declares them on the program). */
export interface GlobalOptions {
  dataDir?: string;
  outputs?: string;
  stage?: string;
  json?: boolean;
}

export interface Context {
  target: Target;
  store: SessionStore;
  api: ApiClient;
  out: Output;
}

/** The target, its token cache and an API client for the command being run. */
export function contextOf(command: Command): Context {
  const options = command.optsWithGlobals<GlobalOptions>();
  const target = resolveTarget({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.outputs ? { outputs: options.outputs } : {}),
    ...(options.stage ? { stage: options.stage } : {}),
  });
  const store = new SessionStore(target.stateDir);
  return { target, store, api: new ApiClient(target, store), out: new Output(Boolean(options.json)) };
}
