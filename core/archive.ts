import JSZip from 'jszip';
import { JobNotFinished, PayloadTooLarge } from './errors';
import { isTerminal, type Caller } from './job';
import type { ItemStore } from './items';
import { allItems } from './items-service';
import { findVisibleJob, sha256Hex } from './jobs';
import type { ArtifactLinks, JobStore } from './ports';

/**
 * "Download all" (POST /jobs/{jobId}/archive): one ZIP of a finished job's files and its items'
 * files with a SHA256SUMS, stored next to them as `all-files.zip` and handed out as a presigned
 * link. Built on each call (the same files give the same archive; no ListBucket grant needed to
 * tell a missing object from a forbidden one). Bounded: a job whose files pass MAX_ARCHIVE_BYTES
 * gets a 413, not a Lambda out of memory.
 */
export const ARCHIVE_NAME = 'all-files.zip';
export const MAX_ARCHIVE_BYTES = 200 * 1024 * 1024;

/** Object storage of the artifacts bucket, as far as the archive needs it. */
export interface ArchiveFiles {
  read(key: string): Promise<Uint8Array>;
  write(key: string, body: Uint8Array, contentType: string): Promise<void>;
}

export interface ArchiveDeps {
  store: JobStore;
  items: ItemStore;
  files: ArchiveFiles;
  links: ArtifactLinks;
}

export interface ArchiveView {
  name: string;
  contentType: 'application/zip';
  size: number;
  /** Files inside. */
  files: number;
  url: string;
}

export async function archiveJobFiles(deps: ArchiveDeps, caller: Caller, jobId: string): Promise<ArchiveView> {
  const job = await findVisibleJob(deps.store, caller, jobId);
  if (!isTerminal(job.status)) throw new JobNotFinished(`Job is ${job.status}; its files can be downloaded together once it has finished`);
  const key = `jobs/${job.jobId}/${ARCHIVE_NAME}`;
  const entries = [
    ...job.artifacts.map((artifact) => ({ path: artifact.name, key: artifact.key, size: artifact.size })),
    ...(await allItems(deps.items, job.jobId)).flatMap((item) =>
      item.artifact ? [{ path: `items/${item.artifact.name}`, key: item.artifact.key, size: item.artifact.size }] : [],
    ),
  ];
  const total = entries.reduce((sum, entry) => sum + entry.size, 0);
  if (total > MAX_ARCHIVE_BYTES) {
    throw new PayloadTooLarge(`The job's files take ${total} bytes; one archive holds at most ${MAX_ARCHIVE_BYTES}: download them one by one`);
  }
  const zip = new JSZip();
  const used = new Set<string>();
  const sums: string[] = [];
  for (const entry of entries) {
    // Two items could name their files alike: the later one gets a numbered name, never overwrites.
    let name = entry.path;
    for (let n = 2; used.has(name); n++) name = entry.path.replace(/(\.[^./]+)?$/, `-${n}$1`);
    used.add(name);
    const bytes = await deps.files.read(entry.key);
    zip.file(name, bytes);
    sums.push(`${sha256Hex(bytes)}  ${name}`);
  }
  // `sha256sum -c SHA256SUMS` checks the unpacked files.
  zip.file('SHA256SUMS', `${sums.join('\n')}\n`);
  const body = await zip.generateAsync({ type: 'uint8array', compression: 'STORE' });
  await deps.files.write(key, body, 'application/zip');
  return { name: ARCHIVE_NAME, contentType: 'application/zip', size: body.length, files: entries.length, url: await deps.links.presign(key, ARCHIVE_NAME) };
}
