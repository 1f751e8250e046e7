import { describe, expect, inject, it } from 'vitest';
import { pollUntil } from '../../local/emulators/poll';
import { LocalClient, isTerminal } from '../support/local-client';

/**
 * A big job fanned out across the fleet: PlanJob writes the items, the Map state runs one robot
 * task per chunk (the local stack's chunks are 25 items, 4 at once), FinishJob writes the manifest.
 */
const outputs = inject('outputs');
const client = new LocalClient(outputs);

const portalStats = async (): Promise<{ downloads: Record<string, number>; logins: number }> =>
  (await fetch(`${outputs.PortalUrl}/__admin/stats`, { headers: { 'x-portal-admin': outputs.PortalAdminToken } })).json() as never;

/** Invoice numbers no other test uses; those starting 404 are unknown to the portal. */
const invoicesFrom = (first: number, count: number) => Array.from({ length: count }, (_, i) => String(first + i));

describe('fan-out of a big job', () => {
  it('runs 120 invoices in 5 chunks: every POD downloaded exactly once, one manifest, the unknown ones failed', async () => {
    const alice = await client.signInSeeded('clients');
    const invoices = invoicesFrom(880100, 120);
    invoices[30] = '404880130';
    invoices[99] = '404880199';
    const before = await portalStats();
    const submitted = await client.api('POST', '/jobs', {
      token: alice,
      body: { robot: 'freight-pod-download', input: { portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName, invoices } },
    });
    expect(submitted.status).toBe(202);
    // PlanJob writes every item before the first chunk runs: they can be listed from the start.
    const listed = await client.api('GET', `/jobs/${submitted.body.jobId}/items?limit=100`, { token: alice });
    expect(listed.status).toBe(200);

    const job = await client.waitForJob(alice, submitted.body.jobId, isTerminal, 240_000);
    const after = await portalStats();

    expect(job.status).toBe('PARTIAL');
    expect(job.artifacts.map((artifact: { name: string }) => artifact.name).sort()).toEqual(['manifest.csv', 'manifest.json']);
    const downloads = invoices.filter((invoice) => !invoice.startsWith('404')).map((invoice) => (after.downloads[invoice] ?? 0) - (before.downloads[invoice] ?? 0));
    console.log(`fan-out: items=${invoices.length} chunks=5 downloads=${downloads.reduce((a, b) => a + b, 0)} logins=${after.logins - before.logins} attempts=${job.attempts}`);
    expect(downloads).toEqual(Array(118).fill(1));
    // At most one login per chunk: chunks start from the owner's kept portal session when there is one.
    expect(after.logins - before.logins).toBeLessThanOrEqual(5 + 2);
    const manifest = JSON.parse(await (await fetch(job.artifacts.find((artifact: { name: string }) => artifact.name === 'manifest.json').url)).text());
    expect(manifest).toMatchObject({ succeeded: 118, failed: 2 });
    expect(manifest.invoices.map((row: { invoice: string }) => row.invoice)).toEqual(invoices);
  }, 300_000);

  it('cancels a fanned-out job: every chunk stops, no chunk starts after, the job stays CANCELLED', async () => {
    const alice = await client.signInSeeded('clients');
    const invoices = invoicesFrom(881100, 200);
    const submitted = await client.api('POST', '/jobs', {
      token: alice,
      body: { robot: 'freight-pod-download', input: { portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName, invoices } },
    });
    const jobId: string = submitted.body.jobId;
    // Cancelled in mid-flight: some chunks have downloaded PODs, none has finished.
    await pollUntil(
      async () => {
        const { body } = await client.api('GET', `/jobs/${jobId}/items?status=SUCCEEDED&limit=100`, { token: alice });
        return body.items.length >= 10 ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, description: 'ten items done' },
    );
    expect((await client.api('POST', `/jobs/${jobId}/cancel`, { token: alice })).status).toBe(200);
    expect(await client.waitForExecutionEnd(jobId)).toBe('FAILED');

    const settled = await portalStats();
    const done = invoices.filter((invoice) => (settled.downloads[invoice] ?? 0) > 0).length;
    console.log(`fan-out cancel: ${done} of ${invoices.length} invoices downloaded before the chunks stopped`);
    expect(done).toBeGreaterThanOrEqual(10);
    expect(done).toBeLessThan(invoices.length);
    expect((await client.api('GET', `/jobs/${jobId}`, { token: alice })).body.status).toBe('CANCELLED');
    // A chunk stops within one item of the cancellation: nothing more is downloaded afterwards.
    const later = await client.waitForJob(alice, jobId, isTerminal, 10_000);
    expect(later.status).toBe('CANCELLED');
    const again = await portalStats();
    expect(invoices.filter((invoice) => (again.downloads[invoice] ?? 0) > 0).length).toBeLessThanOrEqual(done + 4);
  }, 300_000);
});
