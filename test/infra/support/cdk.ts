import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, Duration, type CfnResource, Stack, type StackProps } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { type StageConfig, type StageName, loadStageConfig } from '../../../lib/config';
import { addRoboportStage, type RoboportStage } from '../../../lib/roboport-app';
import { Data } from '../../../lib/data';
import type { FunctionDefaults } from '../../../lib/roboport-function';
import { Workflow, type WorkflowProps } from '../../../lib/workflow';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const cdkContext = JSON.parse(readFileSync(`${REPO_ROOT}/cdk.json`, 'utf8')).context as Record<string, unknown>;

// CloudFormation schema validation triples synth time; `cdk synth` keeps it on.
process.env.CDK_VALIDATION = 'false';

/** An app with cdk.json's feature flags, as `cdk synth` sees it, but without esbuild bundling. */
export function testApp(props: { outdir?: string } = {}): App {
  return new App({ ...props, context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
}

/** A bare stack in a test app, to test one construct alone. */
export function bareStack(props: StackProps = {}): Stack {
  return new Stack(testApp(), 'Test', props);
}

/** A stage's settings as written in cdk.json, to be altered by a test. */
export function rawStageSettings(stage: StageName): Record<string, any> {
  return structuredClone((cdkContext.stages as Record<string, Record<string, any>>)[stage]!);
}

export function stageConfig(stage: StageName, patch: (settings: Record<string, any>) => void = () => {}): StageConfig {
  const settings = rawStageSettings(stage);
  patch(settings);
  return loadStageConfig(stage, { [stage]: settings });
}

/** A stage deployed to a known account in eu-west-1: it also has the console's us-east-1 edge stack. */
export const WITH_ACCOUNT_AND_REGION = (settings: Record<string, any>) => Object.assign(settings, { account: '123456789012', region: 'eu-west-1' });

/** The stacks `cdk synth -c stage=<stage>` builds, in a test app (see testApp). */
export function stageStacks(config: StageConfig, app: App = testApp()): RoboportStage & { app: App } {
  return { app, ...addRoboportStage(app, config, REPO_ROOT) };
}

export function functionDefaults(config: StageConfig = stageConfig('dev')): FunctionDefaults {
  return { sourceRoot: REPO_ROOT, logRetention: config.logRetentionDays, logRemovalPolicy: config.dataRemovalPolicy, logLevel: config.logLevel };
}

/**
 * A bare stack with the Data and Workflow constructs most others hang on; `workflowProps` adds to
 * (or replaces) the workflow's defaults, given the data construct.
 */
export function dataAndWorkflow(config: StageConfig, workflowProps: (data: Data) => Partial<WorkflowProps> = () => ({})) {
  const stack = bareStack();
  const data = new Data(stack, 'Data', { removalPolicy: config.dataRemovalPolicy, artifactRetention: Duration.days(7) });
  const workflow = new Workflow(stack, 'Workflow', {
    jobsTable: data.jobsTable,
    itemsTable: data.itemsTable,
    accountsTable: data.accountsTable,
    egressAllowHosts: [],
    functionDefaults: functionDefaults(config),
    robot: config.robot,
    ...workflowProps(data),
  });
  return { stack, data, workflow };
}

export function logicalIdOf(construct: { node: { defaultChild?: unknown } }): string {
  const resource = construct.node.defaultChild as CfnResource;
  return Stack.of(resource).getLogicalId(resource);
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

export const actionsOf = (statement: Statement): string[] => [statement.Action].flat();

/** Every statement of the inline policies attached to `role`. */
export function statementsOf(template: Template, role: IRole): Statement[] {
  const roleId = logicalIdOf(role);
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => policy.Properties.Roles.some((ref: { Ref?: string }) => ref.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

export function allowedActionsOf(template: Template, role: IRole): string[] {
  return statementsOf(template, role)
    .filter((statement) => statement.Effect === 'Allow')
    .flatMap(actionsOf);
}

export function allStatements(template: Template, policyFilter: (policy: Record<string, any>) => boolean = () => true): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).filter(policyFilter).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
  );
}

/**
 * Turns a CloudFormation `Fn::Join` of string parts and intrinsics back into one string; each
 * intrinsic becomes a readable placeholder such as `<Ref:RobotQueue123>` or `<GetAtt:Fn123.Arn>`.
 */
export function joinParts(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`Not a string or Fn::Join: ${JSON.stringify(value)}`);
  const [separator, parts] = join;
  return parts.map((part) => (typeof part === 'string' ? part : placeholderOf(part))).join(separator);
}

export function placeholderOf(intrinsic: unknown): string {
  const { Ref: ref, 'Fn::GetAtt': getAtt } = intrinsic as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  if (ref) return `<Ref:${ref}>`;
  if (getAtt) return `<GetAtt:${getAtt.join('.')}>`;
  throw new Error(`Unexpected intrinsic: ${JSON.stringify(intrinsic)}`);
}

/** The role's statements that name the portal session key (runtime/portal-sessions.ts seals sessions with it). */
export function sessionKeyStatements(template: Template, role: IRole, data: { portalSessionKey: { node: { defaultChild?: unknown } } }): Statement[] {
  const keyId = logicalIdOf(data.portalSessionKey);
  return statementsOf(template, role).filter((statement) => JSON.stringify(statement.Resource).includes(`"${keyId}"`));
}
