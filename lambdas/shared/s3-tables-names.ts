/**
 * The namespace and table an exported table has in an Amazon S3 Tables table bucket (docs/iceberg.md,
 * "Amazon S3 Tables"). S3 Tables takes 1-255 lower-case letters, digits and `_`, beginning and ending with a
 * letter or digit, and no namespace beginning with `aws`. pgsip names them after the layout's folders
 * (lambdas/engine/run/layout.ts `pathSegment`): a plain Postgres name as it is, any other as its readable
 * lower-case form plus 8 hex digits of the SHA-256 of the exact name, `-` becoming `_` as for Glue tables.
 * A name S3 Tables would still refuse (`_staging`, a schema `aws_data`) is refused here, naming the table.
 */
import { InputError } from '../engine/errors';
import { pathSegment } from '../engine/run/layout';

/** A table bucket's ARN: `arn:<partition>:s3tables:<region>:<account>:bucket/<name>` (the stack's config checks it too). */
export const TABLE_BUCKET_ARN = /^arn:aws[a-z-]*:s3tables:[a-z0-9-]+:\d{12}:bucket\/[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export interface S3TablesName {
  namespace: string;
  name: string;
}

const ALLOWED = /^[a-z0-9](?:[a-z0-9_]{0,253}[a-z0-9])?$/;

export function s3TablesName(schema: string, table: string, quoted: string): S3TablesName {
  const namespace = pathSegment(schema).replace(/-/g, '_');
  const name = pathSegment(table).replace(/-/g, '_');
  if (!ALLOWED.test(namespace) || namespace.startsWith('aws')) {
    throw new InputError(
      `table ${quoted}: schema ${JSON.stringify(schema)} makes the S3 Tables namespace "${namespace}", which S3 Tables refuses (1-255 lower-case letters, digits and _, beginning and ending with a letter or digit, not beginning with "aws")`,
    );
  }
  if (!ALLOWED.test(name)) {
    throw new InputError(
      `table ${quoted}: its S3 Tables name would be "${name}", which S3 Tables refuses (1-255 lower-case letters, digits and _, beginning and ending with a letter or digit)`,
    );
  }
  return { namespace, name };
}
