import S3rver from 's3rver';
import { BucketAlreadyExists, BucketAlreadyOwnedByYou, CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { closeServer, LOOPBACK_HOST } from './http-server';

/**
 * s3rver accepts only this access key (any secret); the local stack signs every request with it.
 * It does not verify SigV4 signatures, but it does refuse expired presigned URLs.
 */
export const LOCAL_S3_ACCESS_KEY = 'S3RVER';

export interface LocalS3 {
  /** Path-style S3 REST endpoint. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts s3rver in-process on 127.0.0.1. Buckets and objects are plain files under `dataDir`,
 * so artifacts outlive a restart of the local stack.
 */
export async function startLocalS3({ dataDir, port = 0 }: { dataDir: string; port?: number }): Promise<LocalS3> {
  // Path-style only: every local client sets forcePathStyle.
  const s3rver = new S3rver({ address: LOOPBACK_HOST, port, directory: dataDir, silent: true, vhostBuckets: false });
  const { port: boundPort } = await s3rver.run();
  const server = s3rver.httpServer;
  if (!server) throw new Error('s3rver started without an HTTP server');
  return { endpoint: `http://${LOOPBACK_HOST}:${boundPort}`, close: () => closeServer(server) };
}

/**
 * Creates the artifacts bucket unless it exists. s3rver has a single account and answers
 * BucketAlreadyExists where S3 would say BucketAlreadyOwnedByYou.
 */
export async function ensureArtifactsBucket(s3: S3Client, bucketName: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  } catch (error) {
    if (!(error instanceof BucketAlreadyOwnedByYou || error instanceof BucketAlreadyExists)) throw error;
  }
}
