import { createHash } from 'node:crypto';
import JSZip from 'jszip';
import { describe, expect, it } from 'vitest';
import { archiveJobFiles, MAX_ARCHIVE_BYTES, type ArchiveFiles } from '../../core/archive';
import { JobNotFound } from '../../core/errors';
import type { Caller } from '../../core/job';
import { MemoryItemStore, makeItem } from '../support/memory-item-store';
import { MemoryJobStore, makeJob } from '../support/memory-job-store';

const JOB_ID = '00000000-0000-4000-8000-000000000001';
const alice: Caller = { sub: 'user-a', isAdmin: false };
const bob: Caller = { sub: 'user-b', isAdmin: false };
const pdf = (text: string) => new TextEncoder().encode(`%PDF-1.4 ${text}`);
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

class MemoryFiles implements ArchiveFiles {
  readonly objects = new Map<string, Uint8Array>();
  async read(key: string) {
    const body = this.objects.get(key);
    if (!body) throw new Error(`no ${key}`);
    return body;
  }
  async write(key: string, body: Uint8Array) {
    this.objects.set(key, body);
  }
}

function setup(status: 'PARTIAL' | 'RUNNING' | 'CANCELLED' = 'PARTIAL', podSize?: number) {
  const files = new MemoryFiles();
  const manifest = new TextEncoder().encode('{"items":[]}');
  files.objects.set(`jobs/${JOB_ID}/manifest.json`, manifest);
  const store = new MemoryJobStore();
  store.jobs.set(JOB_ID, makeJob({ jobId: JOB_ID, status, artifacts: [{ name: 'manifest.json', contentType: 'application/json', size: manifest.length, sha256: sha(manifest), key: `jobs/${JOB_ID}/manifest.json` }] }));
  const items = new MemoryItemStore();
  for (const [position, invoice] of ['111111', '222222'].entries()) {
    const body = pdf(invoice);
    files.objects.set(`jobs/${JOB_ID}/items/${invoice}.pdf`, body);
    items.seed(makeItem({ key: invoice, position, status: 'SUCCEEDED', artifact: { name: `${invoice}.pdf`, contentType: 'application/pdf', size: podSize ?? body.length, sha256: sha(body), key: `jobs/${JOB_ID}/items/${invoice}.pdf` } }));
  }
  items.seed(makeItem({ key: '404000', position: 2, status: 'FAILED', error: { type: 'BUSINESS', code: 'UNKNOWN_INVOICE', message: 'x' } }));
  const links = { presign: async (key: string, name: string) => `https://s3.example/${key}?name=${name}` };
  return { files, deps: { store, items, files, links } };
}

describe('archiveJobFiles', () => {
  it('zips the job’s files and its items’ files with their checksums, stores all-files.zip and links it', async () => {
    const { deps, files } = setup();
    const archive = await archiveJobFiles(deps, alice, JOB_ID);

    expect(archive).toMatchObject({ name: 'all-files.zip', contentType: 'application/zip', files: 3, url: `https://s3.example/jobs/${JOB_ID}/all-files.zip?name=all-files.zip` });
    const stored = files.objects.get(`jobs/${JOB_ID}/all-files.zip`)!;
    expect(archive.size).toBe(stored.length);
    const zip = await JSZip.loadAsync(stored);
    expect(Object.keys(zip.files).sort()).toEqual(['SHA256SUMS', 'items/', 'items/111111.pdf', 'items/222222.pdf', 'manifest.json']);
    const pod = await zip.file('items/111111.pdf')!.async('uint8array');
    expect(new TextDecoder().decode(pod)).toBe('%PDF-1.4 111111');
    expect(await zip.file('SHA256SUMS')!.async('string')).toContain(`${sha(pod)}  items/111111.pdf`);
  });

  it('archives a cancelled job, refuses a running one (409), hides others’ jobs (404) and refuses what is too big (413)', async () => {
    await expect(archiveJobFiles(setup('CANCELLED').deps, alice, JOB_ID)).resolves.toMatchObject({ files: 3 });
    await expect(archiveJobFiles(setup('RUNNING').deps, alice, JOB_ID)).rejects.toMatchObject({ statusCode: 409, code: 'JOB_NOT_FINISHED' });
    await expect(archiveJobFiles(setup().deps, bob, JOB_ID)).rejects.toBeInstanceOf(JobNotFound);
    const huge = setup('PARTIAL', MAX_ARCHIVE_BYTES / 2);
    await expect(archiveJobFiles(huge.deps, alice, JOB_ID)).rejects.toMatchObject({ statusCode: 413 });
    expect(huge.files.objects.has(`jobs/${JOB_ID}/all-files.zip`)).toBe(false);
  });
});
