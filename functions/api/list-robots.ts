import * as z from 'zod';
import { robotCatalog } from '../../robots';
import { apiHandler, callerOf, json } from '../shared/http';

/** The catalog does not change while a process lives: describe it once. */
const robots = robotCatalog.names().map((name) => {
  const robot = robotCatalog.find(name)!;
  return {
    name: robot.name,
    version: robot.version,
    description: robot.description,
    inputSchema: z.toJSONSchema(robot.input, { io: 'input', unrepresentable: 'any' }),
  };
});

/** GET /robots — the robots a caller can submit jobs to, with their input JSON Schema. */
export const handler = apiHandler(async (event) => {
  callerOf(event);
  return json(200, { robots });
});
