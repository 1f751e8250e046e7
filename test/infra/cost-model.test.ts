import { describe, expect, it } from 'vitest';
import { stageCost, transitionsPerJob } from '../../scripts/cost-model';
import { stageConfig } from './support/cdk';

describe('cost model', () => {
  it('counts the state transitions of a successful job from the deployed definition', () => {
    // RunRobot, FinalizeJob, the callback choice, Done.
    expect(transitionsPerJob()).toBe(6);
  });

  it('charges warm workers only to stages that keep some, and Fargate by task size and jobs per task', () => {
    const dev = stageCost(stageConfig('dev'));
    const prod = stageCost(stageConfig('prod'));
    expect(dev.fixedPerMonth.warmWorkers).toBe(0);
    expect(prod.fixedPerMonth.warmWorkers).toBeGreaterThan(0);
    const bigger = stageCost(stageConfig('prod', (s) => Object.assign(s.fleet, { cpu: 4096, memoryMiB: 8192 })));
    expect(bigger.per1000Jobs.fargate).toBeCloseTo(prod.per1000Jobs.fargate * 2, 6);
  });

  it('charges one visibility extension per worker beat of a job', () => {
    // A 45 s job: send, receive and delete, plus 9 beats at 5 s or 3 at 15 s.
    const at5 = stageCost(stageConfig('prod')).per1000Jobs.sqs;
    const at15 = stageCost(stageConfig('prod', (s) => (s.robot.workerBeatSeconds = 15))).per1000Jobs.sqs;
    expect(at5 / at15).toBeCloseTo((3 + 9) / (3 + 3), 6);
  });
});
