/** s3rver ships no typings; this covers the part the local stack uses. */
declare module 's3rver' {
  import type { AddressInfo } from 'node:net';
  import type { Server } from 'node:http';

  interface S3rverOptions {
    address?: string;
    port?: number;
    /** Where buckets and objects are stored as files. */
    directory: string;
    silent?: boolean;
    /** Read the bucket from the Host header (virtual-hosted style) when it matches. */
    vhostBuckets?: boolean;
  }

  export default class S3rver {
    constructor(options: S3rverOptions);
    /** Creates the HTTP server and listens; resolves with its bound address. */
    run(): Promise<AddressInfo>;
    /** Set once run() resolved. */
    httpServer?: Server;
  }
}
