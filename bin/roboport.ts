import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { loadStageConfig } from '../lib/config';
import { addSecurityChecks } from '../lib/nag';
import { addRoboportStage } from '../lib/roboport-app';

const app = new App();
const config = loadStageConfig(app.node.tryGetContext('stage'), app.node.tryGetContext('stages'));
addRoboportStage(app, config, fileURLToPath(new URL('..', import.meta.url)));
addSecurityChecks(app);
