// s3rver ships no types; this is the part of its API the tests use.
declare module 's3rver' {
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory: string;
    resetOnClose?: boolean;
    configureBuckets?: { name: string; configs?: unknown[] }[];
  }
  interface Context {
    method: string;
    path: string;
    query: Record<string, unknown>;
    status: number;
    type: string;
    body: unknown;
    get(header: string): string;
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    middleware: ((ctx: Context, next: () => Promise<void>) => Promise<void>)[];
    store: { existsObject(bucket: string, key: string): Promise<boolean> };
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}
