import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ArtifactLinks } from '../ports';

/** Presigned GET URLs that download under the artifact's own name. */
export class S3ArtifactLinks implements ArtifactLinks {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly ttlSeconds: number,
  ) {}

  presign(key: string, downloadName: string): Promise<string> {
    const safeName = downloadName.replace(/[^A-Za-z0-9._-]/g, '_');
    return getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.bucket, Key: key, ResponseContentDisposition: `attachment; filename="${safeName}"` }),
      { expiresIn: this.ttlSeconds },
    );
  }
}
