import { appendFileSync } from 'node:fs';
import { afterAll, expect, inject } from 'vitest';
import { responseContract } from '../support/response-contract';

/**
 * Every e2e file: the API responses its client saw must match the OpenAPI document
 * (test/support/response-contract.ts). Prints the file's counts; the global teardown prints the sum.
 */
afterAll(() => {
  const { checked, violations } = responseContract;
  appendFileSync(inject('contractFiguresFile'), `${JSON.stringify({ checked, violations: violations.length })}\n`);
  console.log(`openapi: ${checked} responses checked, ${violations.length} violations`);
  expect(violations, 'responses that do not match docs/openapi.json').toEqual([]);
});
