import { fileURLToPath } from 'node:url';
import { App, Tags } from 'aws-cdk-lib';
import { loadStageConfig } from '../lib/config';
import { CLOUDFRONT_WEB_ACL_REGION, ConsoleEdgeStack } from '../lib/console-edge-stack';
import { addSecurityChecks } from '../lib/nag';
import { RoboportStack } from '../lib/roboport-stack';

const app = new App();
const config = loadStageConfig(app.node.tryGetContext('stage'), app.node.tryGetContext('stages'));
const stackName = `Roboport-${config.stage}`;

// The console's web ACL must live in us-east-1; a stage elsewhere gets a small edge stack there,
// which needs a known account and region on both sides (docs/deploy.md).
const edge =
  config.account && config.region && config.region !== CLOUDFRONT_WEB_ACL_REGION
    ? new ConsoleEdgeStack(app, `${stackName}-edge`, {
        env: { account: config.account, region: CLOUDFRONT_WEB_ACL_REGION },
        crossRegionReferences: true,
        rateLimitPer5Minutes: config.api.wafRateLimitPer5Minutes,
        description: `Roboport (${config.stage}): WAF web ACL of the console distribution`,
      })
    : undefined;

new RoboportStack(app, stackName, {
  config,
  sourceRoot: fileURLToPath(new URL('..', import.meta.url)),
  env: { account: config.account, region: config.region },
  crossRegionReferences: edge !== undefined,
  consoleWebAclArn: edge?.webAcl.webAclArn,
  description: `Roboport (${config.stage}): browser robots as a service`,
});
Tags.of(app).add('project', 'roboport');
Tags.of(app).add('stage', config.stage);
addSecurityChecks(app);
