import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalClient, isTerminal } from '../support/local-client';
import { csvOf, xlsxOf } from '../fixtures/sheets';

const outputs = inject('outputs');
const client = new LocalClient(outputs);
let carol: string;

beforeAll(async () => {
  carol = await client.signUpAndIn('carol@roboport.local');
});

const portalFields = () => ({
  robot: 'freight-pod-download',
  input: JSON.stringify({ portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName }),
});

describe('spreadsheet intake on the local stack', () => {
  it('previews an .xlsx on a dry run, numbering its bad rows, and creates no job', async () => {
    const sheet = await xlsxOf([
      ['Relatório de entregas'],
      ['Cliente', 'Nº Nota Fiscal'],
      ['ACME', '000123456'],
      ['ACME', 987654321012],
      ['ACME', new Date(Date.UTC(2024, 2, 1))],
      ['ACME', 'NF 77'],
      ['ACME', '000123456'],
      ['ACME', null],
    ]);

    const res = await client.upload('/jobs?dryRun=true', { token: carol, fields: portalFields(), file: { bytes: sheet, filename: 'entregas.xlsx' } });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      robot: 'freight-pod-download',
      column: { header: 'Nº Nota Fiscal', letter: 'B' },
      items: ['000123456', '987654321012'],
      count: 2,
      duplicatesDropped: 1,
      blanksDropped: 1,
    });
    expect(res.body.errors.map((error: { row: number; value: string }) => [error.row, error.value])).toEqual([
      [5, '2024-03-01'],
      [6, 'NF 77'],
    ]);
    expect((await client.api('GET', '/jobs', { token: carol })).body.jobs).toEqual([]);
  });

  it('refuses the same sheet without dryRun with 400 and the row numbers', async () => {
    const csv = csvOf(['NF;Cliente', '123456;ACME', '12/34;ACME']);
    const res = await client.upload('/jobs', { token: carol, fields: portalFields(), file: { bytes: csv, filename: 'nf.csv' } });

    expect(res.status).toBe(400);
    expect(res.body.error.details.rows).toEqual([{ row: 3, value: '12/34', message: expect.any(String) }]);
    expect((await client.api('GET', '/jobs', { token: carol })).body.jobs).toEqual([]);
  });

  it('creates a freight-pod-download job from a .csv column, honouring Idempotency-Key', async () => {
    const csv = csvOf(['Invoice,Customer', '100200300,ACME', '"100200301",ACME', '100200300,ACME', '404000001,ACME']);
    const upload = () =>
      client.upload('/jobs', { token: carol, fields: portalFields(), file: { bytes: csv, filename: 'invoices.csv' }, headers: { 'Idempotency-Key': 'sheet-e2e-1' } });

    const created = await upload();
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ robot: 'freight-pod-download', input: { invoices: ['100200300', '100200301', '404000001'] } });
    const replayed = await upload();
    expect(replayed.status).toBe(202);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.body.jobId).toBe(created.body.jobId);

    // The portal knows every invoice but those starting with 404.
    const job = await client.waitForJob(carol, created.body.jobId, isTerminal);
    expect(job.status).toBe('PARTIAL');
  });
});
