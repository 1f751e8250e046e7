import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * Accepts one cdk-nag finding on one construct (and its children), with the reason it is
 * acceptable. `id` names the finding exactly, e.g. `AwsSolutions-IAM5[Resource::*]`.
 */
export function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason });
}

/**
 * The id of cdk-nag's finding for a wildcard below a resource's ARN in an IAM policy, e.g.
 * `AwsSolutions-IAM5[Resource::<DataJobsTable1234.Arn>/index/*]` for `wildcardResourceFinding(table, '/index/*')`.
 */
export function wildcardResourceFinding(resource: IConstruct, suffix: string): string {
  const element = resource.node.defaultChild as CfnElement;
  return `AwsSolutions-IAM5[Resource::<${Stack.of(element).getLogicalId(element)}.Arn>${suffix}]`;
}

/** Runs the AWS Solutions rules on every stack at synth; an unacknowledged finding fails it. */
export function addSecurityChecks(app: IConstruct): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}

export interface AcknowledgedFinding {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgement under `scope`, for the test that keeps them precise and docs/deploy.md. */
export function acknowledgedFindings(scope: IConstruct): AcknowledgedFinding[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}
