import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ArtifactLinks } from '../../core/adapters/s3-artifact-links';
import { pollUntil } from '../../local/emulators/poll';
import { ensureArtifactsBucket, LOCAL_S3_ACCESS_KEY, startLocalS3, type LocalS3 } from '../../local/emulators/s3';

const BUCKET = 'roboport-artifacts';
const dataDir = mkdtempSync(path.join(tmpdir(), 'roboport-s3-'));
let emulator: LocalS3;
let s3: S3Client;

function clientFor(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: LOCAL_S3_ACCESS_KEY, secretAccessKey: LOCAL_S3_ACCESS_KEY },
  });
}

async function startOnDataDir(): Promise<void> {
  emulator = await startLocalS3({ dataDir });
  s3 = clientFor(emulator.endpoint);
}
async function stop(): Promise<void> {
  s3.destroy();
  await emulator.close();
}

beforeAll(startOnDataDir);
afterAll(async () => {
  await stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('s3rver (S3)', () => {
  const body = Buffer.from('%PDF-1.7 artifact bytes');

  beforeAll(async () => {
    await ensureArtifactsBucket(s3, BUCKET);
    await ensureArtifactsBucket(s3, BUCKET);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jobs/job-1/report.pdf', Body: new Uint8Array(body), ContentType: 'application/pdf' }));
  });

  it('stores and returns objects through the unchanged SDK client', async () => {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'jobs/job-1/report.pdf' }));
    expect(object.ContentType).toBe('application/pdf');
    expect(Buffer.from(await object.Body!.transformToByteArray())).toEqual(body);
  });

  it('serves a presigned download under the artifact name', async () => {
    const url = await new S3ArtifactLinks(s3, BUCKET, 60).presign('jobs/job-1/report.pdf', 'report.pdf');
    expect(url.startsWith(`${emulator.endpoint}/${BUCKET}/jobs/job-1/report.pdf?`)).toBe(true);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="report.pdf"');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(body);
  });

  it('refuses a presigned URL once it has expired', async () => {
    const url = await new S3ArtifactLinks(s3, BUCKET, 1).presign('jobs/job-1/report.pdf', 'report.pdf');
    // X-Amz-Date has whole seconds, so the link expires within 1 s; wait for it instead of sleeping.
    const refused = await pollUntil(
      async () => {
        const response = await fetch(url);
        return response.status === 200 ? (await response.arrayBuffer(), undefined) : response;
      },
      { timeoutMs: 5_000, intervalMs: 100, description: 'the presigned URL to expire' },
    );
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('Request has expired');
  });

  it('keeps buckets and objects on disk across a restart on the same directory', async () => {
    await stop();
    await startOnDataDir();
    await ensureArtifactsBucket(s3, BUCKET);
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'jobs/job-1/report.pdf' }));
    expect(Buffer.from(await object.Body!.transformToByteArray())).toEqual(body);
  });
});

