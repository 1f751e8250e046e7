import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { isTerminal, LocalClient } from '../support/local-client';

/**
 * The OpenAPI document as the running API serves it, and its request examples: each one, sent
 * as documented, gets a documented success status (the responses are checked against the
 * document as every e2e response is: setup-contract.ts).
 */
const outputs = inject('outputs');
const client = new LocalClient(outputs);
const document = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));

interface Example {
  operation: string;
  method: string;
  path: string;
  mediaType: string;
  name: string;
  value: any;
  successes: number[];
  /** Administrators only (tag Operations). */
  admin: boolean;
}

/** Every request example of the document; the /machine routes exist in AWS only. */
function requestExamples(): Example[] {
  const examples: Example[] = [];
  for (const [template, methods] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
    if (template.startsWith('/machine/')) continue;
    for (const [method, operation] of Object.entries(methods)) {
      const path = template.replace(/\{(\w+)\}/g, (_match, name: string) => {
        const parameter = operation.parameters.find((candidate: any) => candidate.in === 'path' && candidate.name === name);
        return encodeURIComponent(parameter.example);
      });
      const successes = Object.keys(operation.responses).filter((status) => status.startsWith('2')).map(Number);
      for (const [mediaType, content] of Object.entries((operation.requestBody?.content ?? {}) as Record<string, any>)) {
        for (const [name, { value }] of Object.entries(content.examples as Record<string, { value: unknown }>)) {
          const admin = (operation.tags as string[]).includes('Operations');
          examples.push({ operation: operation.operationId, method: method.toUpperCase(), path, mediaType, name, value, successes, admin });
        }
      }
    }
  }
  // Credentials first: the job and schedule examples name the ones the PUT /secrets example creates.
  return examples.sort((a, b) => Number(b.method === 'PUT') - Number(a.method === 'PUT'));
}

describe('the OpenAPI document', () => {
  it('is served at GET /openapi.json without a token, as docs/openapi.json holds it, cacheable', async () => {
    const response = await client.api('GET', '/openapi.json');
    expect(response.status).toBe(200);
    expect(response.body).toEqual(document);
    expect(response.headers.get('cache-control')).toMatch(/public/);
  });

  it('has request examples that the running API accepts with a documented success status', async () => {
    const token = await client.signUpAndIn('openapi-examples@roboport.local');
    const adminToken = await client.signInSeeded('admins');
    // A retry names a finished job of the caller with an item to retry: a 503… invoice fails technically
    // (beside one that succeeds: a job where nothing succeeds looks like a portal that is down, retried as a whole).
    const toRetry = await client.api('POST', '/jobs', {
      token,
      body: { robot: 'freight-pod-download', input: { portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName, invoices: ['777000001', '503000002'] } },
    });
    const retried = await client.waitForJob(token, toRetry.body.jobId, isTerminal, 120_000);
    const examples = requestExamples().map((example) =>
      example.operation === 'retryJob' ? { ...example, path: example.path.replace(/\/jobs\/[^/]+\//, `/jobs/${retried.jobId}/`) } : example,
    );
    expect(examples.map((example) => `${example.operation} ${example.mediaType} ${example.name}`)).toEqual(
      expect.arrayContaining(['putSecret application/json portal', 'submitJob application/json web-snapshot', 'submitJob multipart/form-data sheet', 'createSchedule application/json weekdays']),
    );
    const refused: string[] = [];
    for (const example of examples) {
      const response =
        example.mediaType === 'multipart/form-data'
          ? await (async () => {
              const { file, ...fields } = example.value as Record<string, string>;
              return client.upload(example.path, { token, fields, file: { bytes: new TextEncoder().encode(file), filename: 'invoices.csv' } });
            })()
          : await client.api(example.method, example.path, { token: example.admin ? adminToken : token, body: example.value });
      if (!example.successes.includes(response.status)) refused.push(`${example.operation} (${example.name}): ${response.status} ${JSON.stringify(response.body)}`);
      // Leave nothing running: the examples' portals and pages are not reachable from here.
      if (response.body?.jobId) await client.api('POST', `/jobs/${response.body.jobId}/cancel`, { token });
      if (response.body?.scheduleId) await client.api('DELETE', `/schedules/${response.body.scheduleId}`, { token });
    }
    console.log(`openapi examples: ${examples.length} sent, ${examples.length - refused.length} accepted`);
    expect(refused).toEqual([]);
  });
});
