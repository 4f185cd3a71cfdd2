/** `s3://bucket/prefix` or a folder path, to a Destination. */
import { InputError } from '../errors';
import type { Destination } from './destination';
import { LocalFolderDestination } from './local-folder';
import { S3PrefixDestination } from './s3-prefix';

export interface DestinationOptions {
  s3Endpoint?: string;
  kmsKeyId?: string;
}

export function openDestination(spec: string, options: DestinationOptions = {}): Destination {
  if (!spec) throw new InputError('no destination: pass --dest DIR or --dest s3://bucket/prefix');
  if (spec.startsWith('s3://')) {
    try {
      return new S3PrefixDestination({ url: spec, endpoint: options.s3Endpoint, kmsKeyId: options.kmsKeyId });
    } catch (error) {
      throw new InputError((error as Error).message);
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new InputError(`unsupported destination ${JSON.stringify(spec)}: use a folder or s3://bucket/prefix`);
  return new LocalFolderDestination(spec);
}
