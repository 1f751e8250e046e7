import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ApiClient } from './api-client';
import { CliError, EXIT } from './exit-codes';
import type { ArtifactView, JobView } from '../core/job';

/**
 * `roboport download`: every artifact of a job (manifest, snapshot) into `dir`, and every file of
 * its items into `dir/items/<key>/` (failure evidence under `evidence/`). Each file is checked
 * against its sha256 before it takes its name, and a file already there with the right hash is
 * skipped, so an interrupted download resumes where it stopped.
 */
export interface DownloadOptions {
  evidence: boolean;
  /** Files fetched at once. */
  concurrency: number;
  onFile(file: DownloadedFile): void;
}

export interface DownloadedFile {
  /** Relative to the folder. */
  path: string;
  size: number;
  sha256: string;
  outcome: 'downloaded' | 'present';
}

interface ItemView {
  key: string;
  artifact?: ArtifactView & { url: string };
  evidence?: Array<ArtifactView & { url: string }>;
}

/** Items per page: each page's links are fresh (15 minutes) when its files are fetched. */
const ITEMS_PAGE = 100;

export async function downloadJob(api: ApiClient, jobId: string, dir: string, options: DownloadOptions): Promise<DownloadedFile[]> {
  const jobPath = `/jobs/${encodeURIComponent(jobId)}`;
  const job = await api.get<JobView>(jobPath);
  const files: DownloadedFile[] = [];
  const fetchAll = async (wanted: Array<{ path: string[]; artifact: ArtifactView }>) => {
    for (const file of await mapLimit(wanted, options.concurrency, (entry) => fetchArtifact(dir, entry.path, entry.artifact))) {
      files.push(file);
      options.onFile(file);
    }
  };
  await fetchAll(uniquePaths((job.artifacts ?? []).map((artifact) => ({ path: [artifact.name], artifact }))));
  let nextToken: string | undefined;
  do {
    const page = await api.get<{ items: ItemView[]; nextToken?: string }>(`${jobPath}/items`, { limit: ITEMS_PAGE, nextToken });
    const wanted = page.items.flatMap((item) => [
      ...(item.artifact ? [{ path: ['items', item.key, item.artifact.name], artifact: item.artifact }] : []),
      ...(options.evidence ? (item.evidence ?? []).map((artifact) => ({ path: ['items', item.key, 'evidence', artifact.name], artifact })) : []),
    ]);
    await fetchAll(uniquePaths(wanted));
    nextToken = page.nextToken;
  } while (nextToken);
  return files;
}

async function fetchArtifact(dir: string, segments: string[], artifact: ArtifactView): Promise<DownloadedFile> {
  const relative = path.join(...segments.map(safeSegment));
  const target = path.join(dir, relative);
  const described = { path: relative, size: artifact.size, sha256: artifact.sha256 };
  if ((await sha256OfFile(target)) === artifact.sha256) return { ...described, outcome: 'present' };
  if (!artifact.url) throw new CliError(`${relative}: the API gave no download link`, EXIT.unavailable);
  await mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.part`;
  const response = await fetch(artifact.url).catch((error: Error) => {
    throw new CliError(`${relative}: cannot download (${error.message})`, EXIT.unavailable);
  });
  if (!response.ok || !response.body) throw new CliError(`${relative}: download answered ${response.status}${response.status === 403 ? ' (link expired? run download again)' : ''}`, EXIT.unavailable);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), tap, createWriteStream(partial));
  const sha256 = hash.digest('hex');
  if (sha256 !== artifact.sha256 || size !== artifact.size) {
    await rm(partial, { force: true });
    throw new CliError(`${relative}: downloaded ${size} bytes with sha256 ${sha256}, expected ${artifact.size} bytes with ${artifact.sha256}`, EXIT.verification);
  }
  await rename(partial, target);
  return { ...described, outcome: 'downloaded' };
}

async function sha256OfFile(file: string): Promise<string | undefined> {
  if (!(await stat(file).catch(() => undefined))?.isFile()) return undefined;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A name from the API as one path segment: never a separator, `..` or a control character, so that
 * no item key or file name can write outside the folder.
 */
export function safeSegment(name: string): string {
  const cleaned = name.replace(/[\p{Cc}/\\:*?"<>|]/gu, '_').trim();
  return cleaned === '' || /^\.+$/.test(cleaned) ? '_' : cleaned;
}

/** Two files of one place with the same name (evidence of two attempts) get "-2", "-3" before the extension. */
function uniquePaths<T extends { path: string[] }>(entries: T[]): T[] {
  const seen = new Map<string, number>();
  return entries.map((entry) => {
    const key = entry.path.map(safeSegment).join('/');
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    if (count === 1) return entry;
    const name = entry.path.at(-1)!;
    const extension = path.extname(name);
    return { ...entry, path: [...entry.path.slice(0, -1), `${name.slice(0, name.length - extension.length)}-${count}${extension}`] };
  });
}

async function mapLimit<T, R>(values: T[], limit: number, each: (value: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(values.length);
  let next = 0;
  const lane = async () => {
    while (next < values.length) {
      const index = next++;
      results[index] = await each(values[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, values.length) }, lane));
  return results;
}
