import { RemovalPolicy } from 'aws-cdk-lib';
import { describe, expect, it, vi } from 'vitest';
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

  it('caps portal sessions per stage, with per-host overrides', () => {
    for (const stage of STAGE_NAMES) expect(stageConfig(stage).portalSessions.default).toBe(2);
    const config = loadStageConfig('dev', devOnly((s) => (s.portalSessions.byHost = { 'portal.example.com': 6, 'legacy.example.org:8443': 1 })));
    expect(config.portalSessions).toEqual({ default: 2, byHost: { 'portal.example.com': 6, 'legacy.example.org:8443': 1 } });
  });

  it('rejects an unknown stage with the valid names', () => {
    expect(() => loadStageConfig('qa', devOnly())).toThrow(/Unknown stage "qa".*dev\|staging\|prod/);
  });

  it('rejects a stage missing from the stages context', () => {
    expect(() => loadStageConfig('prod', devOnly())).toThrow(/no settings for stage "prod"/);
  });

  it.each([
    ['a default job timeout above the largest', (s: Record<string, any>) => (s.robot.timeoutSeconds = s.robot.maxTimeoutSeconds + 1), /robot\.timeoutSeconds/],
    ['a largest job timeout above SQS’s 12 h of visibility', (s: Record<string, any>) => (s.robot.maxTimeoutSeconds = 12 * 3600 + 1), /robot\.maxTimeoutSeconds/],
    ['a worker beat above a minute', (s: Record<string, any>) => (s.robot.workerBeatSeconds = 61), /robot\.workerBeatSeconds/],
    ['a worker beat of zero', (s: Record<string, any>) => (s.robot.workerBeatSeconds = 0), /robot\.workerBeatSeconds/],
    ['the former robot.heartbeatSeconds', (s: Record<string, any>) => (s.robot.heartbeatSeconds = 60), /heartbeatSeconds/],
    ['a waiting-jobs alarm beyond what CloudWatch evaluates', (s: Record<string, any>) => (s.alarms.oldestQueuedJobSeconds = 24 * 3600 + 1), /alarms\.oldestQueuedJobSeconds/],
    ['a memory size Fargate does not offer for the cpu', (s: Record<string, any>) => (s.fleet.memoryMiB = 1000), /fleet\.memoryMiB/],
    ['more minimum than maximum tasks', (s: Record<string, any>) => (s.fleet.minTasks = s.fleet.maxTasks + 1), /fleet\.minTasks/],
    ['a log retention CloudWatch does not offer', (s: Record<string, any>) => (s.logRetentionDays = 31), /logRetentionDays/],
    ['an unknown key', (s: Record<string, any>) => (s.fleet.spot = true), /spot/],
    ['a malformed account id', (s: Record<string, any>) => (s.account = '1234'), /account/],
    ['a burst below the rate', (s: Record<string, any>) => (s.api.throttle.burstLimit = s.api.throttle.rateLimit - 1), /api\.throttle\.burstLimit/],
    ['neither Spot nor on-demand weight', (s: Record<string, any>) => Object.assign(s.fleet, { spotWeight: 0, onDemandWeight: 0 }), /fleet\.spotWeight/],
    ['a portal session cap of zero', (s: Record<string, any>) => (s.portalSessions.default = 0), /portalSessions\.default/],
    ['a per-host portal cap keyed by a URL', (s: Record<string, any>) => (s.portalSessions.byHost = { 'https://portal.example.com': 3 }), /portalSessions\.byHost/],
    ['a per-host portal cap above the bound', (s: Record<string, any>) => (s.portalSessions.byHost = { 'portal.example.com': 101 }), /portalSessions\.byHost/],
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

  it('rejects a largest job timeout the RunRobot backstop could cut short over all deliveries', async () => {
    // No value the schema allows breaks the 14-day backstop, so the rule is shown against a 1-day one.
    vi.resetModules();
    vi.doMock('../../core/delivery', async (importOriginal) => ({ ...(await importOriginal<object>()), TASK_BACKSTOP_SECONDS: 24 * 3600 }));
    try {
      const { loadStageConfig: withOneDayBackstop } = await import('../../lib/config');
      // 5 deliveries × (12 h + 15 s) + the DLQ reprocessor's 600 s: above a day.
      expect(() => withOneDayBackstop('dev', devOnly((s) => (s.robot.maxTimeoutSeconds = 12 * 3600)))).toThrow(/below the RunRobot backstop[\s\S]*robot\.maxTimeoutSeconds/);
      // 5 × (4 h + 15 s) + 600 s: below it.
      expect(withOneDayBackstop('dev', devOnly()).robot.maxTimeoutSeconds).toBe(14400);
    } finally {
      vi.doUnmock('../../core/delivery');
      vi.resetModules();
    }
  });
});
