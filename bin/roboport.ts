import { fileURLToPath } from 'node:url';
import { App, Tags } from 'aws-cdk-lib';
import { loadStageConfig } from '../lib/config';
import { RoboportStack } from '../lib/roboport-stack';

const app = new App();
const config = loadStageConfig(app.node.tryGetContext('stage'), app.node.tryGetContext('stages'));

new RoboportStack(app, `Roboport-${config.stage}`, {
  config,
  sourceRoot: fileURLToPath(new URL('..', import.meta.url)),
  env: { account: config.account, region: config.region },
  description: `Roboport (${config.stage}): browser robots as a service`,
});
Tags.of(app).add('project', 'roboport');
Tags.of(app).add('stage', config.stage);
