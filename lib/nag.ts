import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
// cdk-nag's own rendering of an ARN in a finding id (not re-exported by the package).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/**
 * Accepts one cdk-nag finding on one construct (and its children), with the reason it is
 * acceptable. `id` names the finding exactly, e.g. `AwsSolutions-IAM5[Resource::*]`.
 */
export function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason });
}

/**
 * The id of cdk-nag's finding for a wildcard resource of an IAM policy, rendered as cdk-nag
 * renders it, e.g. `AwsSolutions-IAM5[Resource::<DataArtifactsBucket1234.Arn>/*]` for
 * `bucket.arnForObjects('*')`, or with `<AWS::Region>` where the stack has no region.
 */
export function wildcardResourceFinding(scope: IConstruct, resourceArn: string): string {
  return `AwsSolutions-IAM5[${resourceFinding(scope, resourceArn)}]`;
}

/** The bracketed part of such a finding id: `Resource::<rendered ARN>`. */
export function resourceFinding(scope: IConstruct, resourceArn: string): string {
  return `Resource::${flattenCfnReference(Stack.of(scope).resolve(resourceArn))}`;
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

/**
 * Every cdk-nag acknowledgement under `scope`, for the test that keeps them precise and for
 * docs/deploy.md (CDK acknowledges some of its own CloudFormation validation rules too: not listed).
 */
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
      )
      .filter(({ id }) => id.startsWith('AwsSolutions-')),
  );
}

/** Actions IAM cannot scope to a resource: a policy may grant them on "*" only. */
const ACTIONS_WITHOUT_RESOURCE_SCOPE = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'states:SendTaskSuccess',
  'states:SendTaskFailure',
  'states:SendTaskHeartbeat',
  'ecr:GetAuthorizationToken',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
]);

/** KMS actions CDK grants with a wildcard on resources encrypted with a key. */
const KMS_WILDCARD_ACTIONS = ['kms:GenerateDataKey*', 'kms:ReEncrypt*'];

interface ResolvedStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/**
 * Acknowledges the wildcard findings that CDK's own grants produce, on each policy that has
 * them, and only after checking that the wildcard is harmless there:
 * - `Resource::*` when every "*" statement of the policy holds only actions IAM cannot scope;
 * - `Action::kms:GenerateDataKey*` / `kms:ReEncrypt*` when they apply to keys of this stack only;
 * - `Resource::<Table.Arn>/index/*` for a table of this stack (the grant covers its indexes);
 * - `Resource::<Function.Arn>:*` for a function of this stack and `lambda:InvokeFunction` only
 *   (the versions and aliases of that one function).
 * Anything else still fails synth. Call once the stack is complete.
 */
export function acknowledgeScopedWildcards(stack: Stack): void {
  const logicalIdsOf = (type: string) =>
    new Set(
      stack.node
        .findAll()
        .filter((c): c is CfnResource => CfnResource.isCfnResource(c) && c.cfnResourceType === type)
        .map((c) => stack.getLogicalId(c)),
    );
  const keys = logicalIdsOf('AWS::KMS::Key');
  const tables = new Set([...logicalIdsOf('AWS::DynamoDB::GlobalTable'), ...logicalIdsOf('AWS::DynamoDB::Table')]);
  const functions = logicalIdsOf('AWS::Lambda::Function');

  for (const policy of stack.node.findAll().filter((c): c is iam.Policy => c instanceof iam.Policy)) {
    const statements = ((stack.resolve(policy.document.toJSON()) as { Statement?: ResolvedStatement[] } | undefined)?.Statement ?? []).filter(
      (statement) => statement.Effect === 'Allow',
    );
    const actionsOf = (statement: ResolvedStatement) => [statement.Action].flat();
    const resourcesOf = (statement: ResolvedStatement) => [statement.Resource].flat();

    const starStatements = statements.filter((s) => resourcesOf(s).includes('*'));
    const unscopableActions = [...new Set(starStatements.flatMap(actionsOf))];
    if (starStatements.length > 0 && unscopableActions.every((action) => ACTIONS_WITHOUT_RESOURCE_SCOPE.has(action))) {
      acknowledge(policy, 'AwsSolutions-IAM5[Resource::*]', `Only actions IAM cannot scope to a resource use "*": ${unscopableActions.join(', ')}.`);
    }

    for (const action of KMS_WILDCARD_ACTIONS) {
      const granting = statements.filter((s) => actionsOf(s).includes(action));
      if (granting.length > 0 && granting.every((s) => resourcesOf(s).every((r) => keys.has(getAttArnOf(r) ?? '')))) {
        acknowledge(policy, `AwsSolutions-IAM5[Action::${action}]`, `CDK's grant on data encrypted with the stage key; ${action} applies to that key only.`);
      }
    }

    for (const statement of statements) {
      for (const resource of resourcesOf(statement)) {
        const [arnOf, suffix] = joinedArnOf(resource) ?? [];
        if (arnOf && suffix === '/index/*' && tables.has(arnOf)) {
          acknowledge(
            policy,
            `AwsSolutions-IAM5[Resource::<${arnOf}.Arn>/index/*]`,
            'The table grant covers its global secondary indexes, whose names are fixed in core/table-schema.ts.',
          );
        }
        if (arnOf && suffix === ':*' && functions.has(arnOf) && actionsOf(statement).every((a) => a === 'lambda:InvokeFunction')) {
          acknowledge(policy, `AwsSolutions-IAM5[Resource::<${arnOf}.Arn>:*]`, 'Invokes the versions and aliases of this one function, nothing else.');
        }
      }
    }
  }
}

/** `KeyId` of `{"Fn::GetAtt": ["KeyId", "Arn"]}`. */
function getAttArnOf(value: unknown): string | undefined {
  const getAtt = (value as { 'Fn::GetAtt'?: [string, string] } | null)?.['Fn::GetAtt'];
  return getAtt?.[1] === 'Arn' ? getAtt[0] : undefined;
}

/** `["TableId", "/index/*"]` of `{"Fn::Join": ["", [{"Fn::GetAtt": ["TableId", "Arn"]}, "/index/*"]]}`. */
function joinedArnOf(value: unknown): [string, string] | undefined {
  const join = (value as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  if (!join || join[0] !== '' || join[1].length !== 2) return undefined;
  const [arn, suffix] = join[1];
  const logicalId = getAttArnOf(arn);
  return logicalId && typeof suffix === 'string' ? [logicalId, suffix] : undefined;
}
