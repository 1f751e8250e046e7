#!/usr/bin/env node
// The `roboport` bin of this package: loads the TypeScript CLI through tsx (a dev dependency of the repository).
import { register } from 'tsx/esm/api';

register();
const { run } = await import('./main.ts');
process.exitCode = await run(process.argv.slice(2));
