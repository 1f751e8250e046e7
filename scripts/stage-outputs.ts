/**
 * Turns the file `cdk deploy --outputs-file` writes (outputs nested per stack) into the flat
 * shape of .roboport/outputs.json (local/stack.ts LocalOutputs), for the token script, the
 * console and the tests to use against a deployed stage:
 *
 *   npx tsx scripts/stage-outputs.ts cdk-outputs.json prod > .roboport-prod/outputs.json
 */
import { readFileSync } from 'node:fs';

const [outputsFile, stage] = process.argv.slice(2);
if (!outputsFile || !stage) {
  console.error('usage: npx tsx scripts/stage-outputs.ts <cdk-outputs.json> <stage>');
  process.exit(2);
}
const byStack = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>;
const outputs = byStack[`Roboport-${stage}`];
if (!outputs) {
  console.error(`${outputsFile} has no stack Roboport-${stage} (stacks: ${Object.keys(byStack).join(', ') || 'none'})`);
  process.exit(1);
}
console.log(JSON.stringify(outputs, null, 2));
