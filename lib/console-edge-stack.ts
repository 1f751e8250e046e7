import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { WebAcl } from './web-acl';

export interface ConsoleEdgeStackProps extends StackProps {
  readonly rateLimitPer5Minutes: number;
}

/** CloudFront takes web ACLs from us-east-1 only. */
export const CLOUDFRONT_WEB_ACL_REGION = 'us-east-1';

/**
 * The console distribution's WAF web ACL, in us-east-1 whatever the stage's region. The stage
 * stack reads its ARN through a CDK cross-region reference (both stacks need an explicit
 * account and region); a stage in us-east-1 keeps the web ACL in its own stack instead.
 */
export class ConsoleEdgeStack extends Stack {
  public readonly webAcl: WebAcl;

  constructor(scope: Construct, id: string, props: ConsoleEdgeStackProps) {
    super(scope, id, props);
    this.webAcl = new WebAcl(this, 'ConsoleWebAcl', { scope: 'CLOUDFRONT', rateLimitPer5Minutes: props.rateLimitPer5Minutes });
  }
}
