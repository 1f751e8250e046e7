import { connect } from 'node:net';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MAX_COLUMNS, MAX_SPREADSHEET_BYTES } from '../../core/spreadsheet';
import { LocalClient } from '../support/local-client';
import { xlsxOf } from '../fixtures/sheets';
import { lyingEndRecordBomb, lyingSizeBomb } from '../fixtures/zip-bombs';
import { recordFigures, send, shapeProblem, type RawResponse } from './support/api';
import { peakRssGrowthMiB, statusKiB } from './support/process-memory';

const outputs = inject('outputs');
const stackPid = inject('stackPid');
const client = new LocalClient(outputs);
let token: string;

/** Each refusal must come within this long, and the stack's memory may rise this much at most meanwhile. */
const MAX_MS = 3000;
const MAX_RSS_GROWTH_MIB = 256;

beforeAll(async () => {
  token = await client.signUpAndIn('intake-attacker@roboport.local');
});

const fields = () => ({ robot: 'freight-pod-download', input: JSON.stringify({ portalUrl: outputs.PortalUrl, credentialsSecret: outputs.PortalSecretName }) });

/** A multipart/form-data body as a browser sends it: the fields and one file. */
async function multipart(file: { bytes: Uint8Array; filename: string }, extraFiles = 0): Promise<{ contentType: string; body: Buffer }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields())) form.append(name, value);
  for (let i = 0; i <= extraFiles; i++) form.append(i === 0 ? 'file' : `file${i}`, new Blob([new Uint8Array(file.bytes)]), file.filename);
  const request = new Request('http://localhost/jobs', { method: 'POST', body: form });
  return { contentType: request.headers.get('content-type')!, body: Buffer.from(await request.arrayBuffer()) };
}

const upload = (contentType: string, body: Uint8Array, query = '') =>
  send(outputs.ApiUrl, { method: 'POST', target: `/jobs${query}`, headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });

interface Outcome {
  label: string;
  status: number;
  ms: number;
  rssGrowthMiB: number;
  problem?: string;
}
const outcomes: Outcome[] = [];

/** Sends one hostile upload, measuring the answer's time and the stack's peak memory growth. */
async function attack(label: string, request: () => Promise<RawResponse>, expected: (status: number) => boolean = (status) => status >= 400 && status < 500): Promise<Outcome> {
  const { result: res, growthMiB } = await peakRssGrowthMiB(stackPid, request);
  const problem = !expected(res.status) ? `status ${res.status}: ${res.text.slice(0, 200)}` : shapeProblem(res);
  const outcome = { label, status: res.status, ms: Math.round(res.ms), rssGrowthMiB: growthMiB, ...(problem ? { problem } : {}) };
  console.log(`security intake: ${label} -> ${res.status} in ${outcome.ms} ms, stack RSS +${growthMiB} MiB${problem ? ` PROBLEM ${problem}` : ''}`);
  outcomes.push(outcome);
  return outcome;
}

function expectBounded(outcome: Outcome): void {
  expect(outcome.problem, outcome.label).toBeUndefined();
  expect(outcome.ms, outcome.label).toBeLessThan(MAX_MS);
  expect(outcome.rssGrowthMiB, outcome.label).toBeLessThan(MAX_RSS_GROWTH_MIB);
}

describe('truncated and malformed uploads', () => {
  it.each([
    ['cut inside the file', (body: Buffer) => body.subarray(0, body.indexOf('100200300') + 4)],
    ['cut inside a part header', (body: Buffer) => body.subarray(0, body.indexOf('filename=') + 5)],
    ['without its closing boundary', (body: Buffer) => body.subarray(0, body.lastIndexOf('--') - 10)],
    ['cut after the first boundary line', (body: Buffer) => body.subarray(0, body.indexOf('\r\n') + 2)],
    ['of garbage after the first boundary', (body: Buffer) => Buffer.concat([body.subarray(0, body.indexOf('\r\n') + 2), Buffer.from([0, 0xff, 0xfe, 0x0d])])],
    ['that is empty', () => Buffer.alloc(0)],
  ])('answers an upload %s with a 4xx in the error shape, and stays up', async (label, cut) => {
    const { contentType, body } = await multipart({ bytes: Buffer.from('NF\r\n100200300\r\n100200301\r\n'), filename: 'nf.csv' });
    expectBounded(await attack(`upload ${label}`, () => upload(contentType, cut(body))));
    expect((await send(outputs.ApiUrl, { method: 'GET', target: '/health' })).status).toBe(200);
  });

  it('answers a boundary the body does not use, a missing boundary, and two files with 400', async () => {
    const { contentType, body } = await multipart({ bytes: Buffer.from('NF\r\n100200300\r\n'), filename: 'nf.csv' });
    expectBounded(await attack('upload with another boundary', () => upload('multipart/form-data; boundary=nothing-like-it', body)));
    expectBounded(await attack('upload without a boundary', () => upload('multipart/form-data', body)));
    const two = await multipart({ bytes: Buffer.from('NF\r\n100200300\r\n'), filename: 'nf.csv' }, 1);
    expectBounded(await attack('upload of two files', () => upload(two.contentType, two.body)));
    expect(contentType).toMatch(/boundary=/);
  });

  it(`answers a file over ${MAX_SPREADSHEET_BYTES / 1024 / 1024} MiB with 413`, async () => {
    const { contentType, body } = await multipart({ bytes: Buffer.alloc(MAX_SPREADSHEET_BYTES + 1024, 0x31), filename: 'big.csv' });
    expectBounded(await attack('upload over the file limit', () => upload(contentType, body), (status) => status === 413));
  });

  it('answers a request whose body stops short of its Content-Length with 400', async () => {
    const { contentType, body } = await multipart({ bytes: Buffer.from('NF\r\n100200300\r\n'), filename: 'nf.csv' });
    const url = new URL(outputs.ApiUrl);
    const started = performance.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(`POST /jobs HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length + 5000}\r\n\r\n`);
        // Half the body, then the client stops sending (its side of the connection closes).
        socket.end(body.subarray(0, body.length / 2));
      });
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
    console.log(`security intake: body cut short of Content-Length -> ${status} in ${Math.round(performance.now() - started)} ms`);
    outcomes.push({ label: 'body cut short of Content-Length', status, ms: Math.round(performance.now() - started), rssGrowthMiB: 0, ...(status === 400 ? {} : { problem: answer.slice(0, 200) }) });
    expect(status).toBe(400);
    expect(answer).toContain('"code":"BAD_REQUEST"');
  });
});

describe('archive and sheet bombs', () => {
  const bombs: Array<[string, () => Promise<{ bytes: Uint8Array; filename: string }>]> = [
    ['a 3.3 MB .xlsx whose end record claims 1 of 200 entries (3.2 GiB inflated)', async () => ({ bytes: lyingEndRecordBomb(), filename: 'bomb.xlsx' })],
    ['a 1 MB .xlsx sheet declaring 1 KiB that inflates to 1 GiB', async () => ({ bytes: lyingSizeBomb(), filename: 'bomb.xlsx' })],
    ['a 4 MB CSV of line breaks', async () => ({ bytes: Buffer.alloc(MAX_SPREADSHEET_BYTES - 1024, 0x0a), filename: 'bomb.csv' })],
    ['a 4 MB CSV of one row of delimiters', async () => ({ bytes: Buffer.from(`NF${','.repeat(MAX_SPREADSHEET_BYTES - 1024)}\n`), filename: 'bomb.csv' })],
    [`a small .xlsx whose 200 rows reach column ${MAX_COLUMNS}`, async () => ({ bytes: await xlsxOf(Array.from({ length: 200 }, (_unused, i) => [String(100000 + i), ...Array<null>(MAX_COLUMNS - 2).fill(null), 1])), filename: 'wide.xlsx' })],
  ];

  it.each(bombs)('refuses %s with 400, within bounded time and memory', async (label, build) => {
    const { contentType, body } = await multipart(await build());
    for (const query of ['', '?dryRun=true']) {
      const outcome = await attack(`${label}${query}`, () => upload(contentType, body, query));
      expectBounded(outcome);
      expect(outcome.status).toBe(400);
    }
  });

  it('leaves the stack healthy: /health, and a real spreadsheet job is accepted', async () => {
    const rssMiB = Math.round(statusKiB(stackPid, 'VmRSS') / 1024);
    expect((await send(outputs.ApiUrl, { method: 'GET', target: '/health' })).status).toBe(200);
    const res = await client.upload('/jobs', { token, fields: fields(), file: { bytes: await xlsxOf([['Invoice'], ['100200300'], ['100200301']]), filename: 'nf.xlsx' } });
    expect(res.status).toBe(202);
    expect(res.body.input.invoices).toEqual(['100200300', '100200301']);

    const refused = outcomes.filter((outcome) => outcome.status >= 400 && outcome.status < 500).length;
    const maxMs = Math.max(...outcomes.map((outcome) => outcome.ms));
    const maxRss = Math.max(...outcomes.map((outcome) => outcome.rssGrowthMiB));
    console.log(`security intake: uploads=${outcomes.length} refused4xx=${refused} 5xx=${outcomes.filter((o) => o.status >= 500).length} maxMs=${maxMs} maxRssGrowthMiB=${maxRss} stackRssMiB=${rssMiB}`);
    recordFigures(inject('figuresFile'), { hostileUploads: outcomes.length, uploads5xx: outcomes.filter((o) => o.status >= 500).length, maxUploadMs: maxMs, maxRssGrowthMiB: maxRss });
    expect(outcomes.filter((outcome) => outcome.problem)).toEqual([]);
  });
});
