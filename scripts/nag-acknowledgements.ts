/**
 * Lists every cdk-nag finding the stacks of a stage acknowledge, with its reason, as the table
 * of docs/deploy.md ("Security findings acknowledged"):
 *
 *   npx tsx scripts/nag-acknowledgements.ts prod
 */
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { readFileSync } from 'node:fs';
import { loadStageConfig } from '../lib/config';
import { acknowledgedFindings } from '../lib/nag';
import { addRoboportStage } from '../lib/roboport-app';

const context = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')).context;
const stage = process.argv[2] ?? 'prod';
const settings = { ...context.stages[stage], ...(process.argv[3] === '--with-account' ? { account: '123456789012', region: 'eu-west-1' } : {}) };
const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
addRoboportStage(app, loadStageConfig(stage, { [stage]: settings }), fileURLToPath(new URL('..', import.meta.url)));

/** One row per finding and reason, with every place it is acknowledged (paths without the stack). */
const groups = new Map<string, { id: string; reason: string; where: string[] }>();
for (const { path, id, reason } of acknowledgedFindings(app)) {
  const key = `${id}\n${reason}`;
  const group = groups.get(key) ?? { id, reason, where: [] };
  group.where.push(path.split('/').slice(1).join('/'));
  groups.set(key, group);
}
console.log('| Finding | Where | Reason |\n| --- | --- | --- |');
for (const { id, reason, where } of [...groups.values()].sort((a, b) => a.id.localeCompare(b.id))) {
  const places = where.length > 3 ? `${where.length} places, e.g. \`${where[0]}\`` : where.map((w) => `\`${w}\``).join(', ');
  console.log(`| \`${id}\` | ${places} | ${reason.replaceAll('|', '\\|')} |`);
}
