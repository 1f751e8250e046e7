import { type App, Tags } from 'aws-cdk-lib';
import type { StageConfig } from './config';
import { CLOUDFRONT_WEB_ACL_REGION, ConsoleEdgeStack } from './console-edge-stack';
import { RoboportStack } from './roboport-stack';

export interface RoboportStage {
  readonly main: RoboportStack;
  /** Only for a stage with account and region outside us-east-1 (see ConsoleEdgeStack). */
  readonly edge?: ConsoleEdgeStack;
}

/**
 * The stacks of one stage, named `Roboport-<stage>` and `Roboport-<stage>-edge` and tagged
 * with project and stage, so that `cdk deploy --all -c stage=<stage>` deploys exactly that stage.
 */
export function addRoboportStage(app: App, config: StageConfig, sourceRoot: string): RoboportStage {
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
  const main = new RoboportStack(app, stackName, {
    config,
    sourceRoot,
    env: { account: config.account, region: config.region },
    crossRegionReferences: edge !== undefined,
    consoleWebAclArn: edge?.webAcl.webAclArn,
    description: `Roboport (${config.stage}): browser robots as a service`,
  });
  for (const stack of [main, edge]) {
    if (!stack) continue;
    // Tags on every resource, except types whose Tags cfn-lint's schema does not know yet.
    const tagOptions = { excludeResourceTypes: ['AWS::CloudWatch::Dashboard', 'AWS::ApplicationAutoScaling::ScalableTarget'] };
    Tags.of(stack).add('project', 'roboport', tagOptions);
    Tags.of(stack).add('stage', config.stage, tagOptions);
  }
  return { main, edge };
}
