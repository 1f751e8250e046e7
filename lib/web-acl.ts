import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface WebAclProps {
  /** REGIONAL for the API stage; CLOUDFRONT for the console distribution (only in us-east-1). */
  readonly scope: 'REGIONAL' | 'CLOUDFRONT';
  /** Requests one IP address may send per 5 minutes before it is blocked for a while. */
  readonly rateLimitPer5Minutes: number;
}

/** Managed rule groups, in evaluation order after the rate limit. */
const MANAGED_RULE_GROUPS = [
  'AWSManagedRulesAmazonIpReputationList',
  'AWSManagedRulesKnownBadInputsRuleSet',
  'AWSManagedRulesCommonRuleSet',
] as const;

/**
 * Rules of the common rule set that only count: SizeRestrictions_BODY blocks bodies over 8 KB,
 * but job submissions may carry up to 256 KB of JSON and spreadsheets of several MB. The API
 * and its handlers enforce those limits themselves.
 */
const COUNT_ONLY_RULES: Readonly<Record<string, string[]>> = { AWSManagedRulesCommonRuleSet: ['SizeRestrictions_BODY'] };

/**
 * A WAFv2 web ACL: a per-IP rate limit, then the AWS managed rule groups for IP reputation,
 * known bad inputs and common web exploits. Everything else is allowed.
 */
export class WebAcl extends Construct {
  public readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: WebAclProps) {
    super(scope, id);
    const metricName = (name: string) => ({ cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: name });
    const managedRules: wafv2.CfnWebACL.RuleProperty[] = MANAGED_RULE_GROUPS.map((name, index) => ({
      name,
      priority: index + 1,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ruleActionOverrides: COUNT_ONLY_RULES[name]?.map((rule) => ({ name: rule, actionToUse: { count: {} } })),
        },
      },
      visibilityConfig: metricName(name),
    }));
    this.webAcl = new wafv2.CfnWebACL(this, 'Resource', {
      scope: props.scope,
      defaultAction: { allow: {} },
      visibilityConfig: metricName(id),
      rules: [
        {
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: props.rateLimitPer5Minutes, aggregateKeyType: 'IP', evaluationWindowSec: 300 } },
          visibilityConfig: metricName('RateLimitPerIp'),
        },
        ...managedRules,
      ],
    });
  }

  get webAclArn(): string {
    return this.webAcl.attrArn;
  }
}
