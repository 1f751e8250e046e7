import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STAGE_NAMES } from '../../lib/config';
import { stageConfig, stageStacks, testApp, WITH_ACCOUNT_AND_REGION } from './support/cdk';

const cfnLintVersion = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const cfnLintMissing = cfnLintVersion.error !== undefined || cfnLintVersion.status !== 0;
if (cfnLintMissing) console.warn('cfn-lint is not installed (pip install cfn-lint): the CloudFormation lint test is skipped.');

const outDir = mkdtempSync(path.join(tmpdir(), 'roboport-cfn-lint-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe.skipIf(cfnLintMissing)('cfn-lint', () => {
  it('finds no error in any template of any stage', () => {
    const configs = [...STAGE_NAMES.map((stage) => stageConfig(stage)), stageConfig('prod', WITH_ACCOUNT_AND_REGION)];
    const templates = configs.flatMap((config, index) => {
      const stageDir = path.join(outDir, `${config.stage}-${index}`);
      stageStacks(config, testApp({ outdir: stageDir })).app.synth();
      return readdirSync(stageDir)
        .filter((file) => file.endsWith('.template.json'))
        .map((file) => path.join(stageDir, file));
    });
    expect(templates.length).toBeGreaterThan(configs.length);

    // One run for all templates: cfn-lint's start-up dominates. Warnings are reported, errors fail.
    const lint = spawnSync('cfn-lint', ['--format', 'parseable', '--non-zero-exit-code', 'error', ...templates], { encoding: 'utf8' });
    const errors = lint.stdout.split('\n').filter((line) => /:E\d+:/.test(line));
    expect(errors).toEqual([]);
    expect(lint.status, lint.stderr).toBe(0);
    // Four synths and one cfn-lint run of every template: about 40 s alone, minutes on 2 shared cores.
  }, 300_000);
});
