import { App, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { type StageConfig, STAGE_NAMES } from '../../lib/config';
import { acknowledgedFindings, addSecurityChecks } from '../../lib/nag';
import { stageConfig, stageStacks, testApp, WITH_ACCOUNT_AND_REGION } from './support/cdk';

const VARIANTS: Array<[string, StageConfig]> = [
  ...STAGE_NAMES.map((stage): [string, StageConfig] => [stage, stageConfig(stage)]),
  ['prod with account and region (console edge stack)', stageConfig('prod', WITH_ACCOUNT_AND_REGION)],
];

/** "error AwsSolutions-S1 at Stack/Bucket/Resource" per finding: readable when the test fails. */
function findingsOf(app: App): string[] {
  return new AwsSolutionsChecks(app)
    .validateScope(app)
    .violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`));
}

describe.each(VARIANTS)('cdk-nag AwsSolutions on %s', (_name, config) => {
  const { app } = stageStacks(config);

  it('reports no finding that is not acknowledged, errors or warnings', () => {
    expect(findingsOf(app)).toEqual([]);
  });

  it('names each acknowledged finding exactly and says why it is acceptable', () => {
    const findings = acknowledgedFindings(app);
    expect(findings.length).toBeGreaterThan(0);
    for (const { path, id, reason } of findings) {
      expect(id, path).toMatch(/^AwsSolutions-[A-Z]+\d+(\[(Action|Resource|Policy)::.+\])?$/);
      expect(reason.length, `${path} ${id}`).toBeGreaterThanOrEqual(40);
    }
  });
});

describe('security checks', () => {
  it('do fail on a finding nobody acknowledged', () => {
    const app = testApp();
    new s3.Bucket(new Stack(app, 'Unchecked'), 'Bucket');
    expect(findingsOf(app)).toContain('error AwsSolutions-S1 at Unchecked/Bucket/Resource');
  });

  it('let `cdk synth` pass with CloudFormation validation and cdk-nag on, as bin/roboport.ts runs them', () => {
    const validation = process.env.CDK_VALIDATION;
    delete process.env.CDK_VALIDATION;
    try {
      const { app } = stageStacks(stageConfig('prod'));
      addSecurityChecks(app);
      expect(() => app.synth()).not.toThrow();
    } finally {
      process.env.CDK_VALIDATION = validation;
    }
  });
});
