import type { RobotCatalog } from '../core/jobs';
import type { RobotDefinition } from '../core/robot';
import { freightPodDownload } from './freight-pod-download';
import { webSnapshot } from './web-snapshot';

/** Every robot this build can run; one file per robot in robots/. */
export const ROBOTS: readonly RobotDefinition[] = [webSnapshot, freightPodDownload];

const byName = new Map(ROBOTS.map((robot) => [robot.name, robot]));

export const robotCatalog: RobotCatalog = {
  find: (name) => byName.get(name),
  names: () => [...byName.keys()],
};
