import { RemovalPolicy } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { loadStageConfig, STAGE_NAMES } from '../../lib/config';
import { rawStageSettings, stageConfig } from './support/cdk';

/** A stages context holding only dev, changed by `patch`. */
const devOnly = (patch: (settings: Record<string, any>) => void = () => {}) => {
  const settings = rawStageSettings('dev');
  patch(settings);
  return { dev: settings };
};

describe('stage config', () => {
  it('accepts every stage of cdk.json', () => {
    for (const stage of STAGE_NAMES) expect(stageConfig(stage).stage).toBe(stage);
  });

  it('retains data in prod only', () => {
    expect(stageConfig('prod').dataRemovalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(stageConfig('staging').dataRemovalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(stageConfig('dev').dataRemovalPolicy).toBe(RemovalPolicy.DESTROY);
  });

  it('lets no private host through the egress guard on AWS', () => {
    for (const stage of STAGE_NAMES) expect(stageConfig(stage).egressAllowHosts).toEqual([]);
  });

  it('rejects an unknown stage with the valid names', () => {
    expect(() => loadStageConfig('qa', devOnly())).toThrow(/Unknown stage "qa".*dev\|staging\|prod/);
  });

  it('rejects a stage missing from the stages context', () => {
    expect(() => loadStageConfig('prod', devOnly())).toThrow(/no settings for stage "prod"/);
  });

  it.each([
    ['a heartbeat not below the timeout', (s: Record<string, any>) => (s.robot.heartbeatSeconds = s.robot.timeoutSeconds), /robot\.heartbeatSeconds/],
    ['a memory size Fargate does not offer for the cpu', (s: Record<string, any>) => (s.fleet.memoryMiB = 1000), /fleet\.memoryMiB/],
    ['more minimum than maximum tasks', (s: Record<string, any>) => (s.fleet.minTasks = s.fleet.maxTasks + 1), /fleet\.minTasks/],
    ['a log retention CloudWatch does not offer', (s: Record<string, any>) => (s.logRetentionDays = 31), /logRetentionDays/],
    ['an unknown key', (s: Record<string, any>) => (s.fleet.spot = true), /spot/],
    ['a malformed account id', (s: Record<string, any>) => (s.account = '1234'), /account/],
    ['a burst below the rate', (s: Record<string, any>) => (s.api.throttle.burstLimit = s.api.throttle.rateLimit - 1), /api\.throttle\.burstLimit/],
    ['neither Spot nor on-demand weight', (s: Record<string, any>) => Object.assign(s.fleet, { spotWeight: 0, onDemandWeight: 0 }), /fleet\.spotWeight/],
    ['a malformed alarm email', (s: Record<string, any>) => (s.alarms.email = 'ops'), /alarms\.email/],
    [
      'a console certificate outside us-east-1',
      (s: Record<string, any>) =>
        (s.domains = { console: { name: 'console.example.com', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f0e-1d2c' } }),
      /CloudFront needs a certificate in us-east-1/,
    ],
  ])('rejects %s', (_case, patch, message) => {
    expect(() => loadStageConfig('dev', devOnly(patch))).toThrow(message);
  });
});
