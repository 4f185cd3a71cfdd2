/**
 * Hashed columns (lambdas/engine/selection/column-rules.ts): each value arrives as its Postgres text
 * (`col::text`, whose binary send format is the UTF-8 text itself) and is written as the lowercase hex
 * HMAC-SHA-256 of those bytes under the run's key: 64 ASCII characters, a STRING. NULL stays NULL. The
 * plain value is never copied into the column, so it cannot reach a page, a dictionary or a statistic.
 */
import { createHmac } from 'node:crypto';
import type { ColumnBuilder, ColumnValues } from '../column-mapping';
import { BytesBuilder } from './byte-array';

const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Hex digits of one HMAC-SHA-256. */
export const HASHED_LENGTH = 64;

export class HashedTextBuilder implements ColumnBuilder {
  private readonly inner: BytesBuilder;
  private readonly hex = Buffer.alloc(HASHED_LENGTH);
  private readonly key: Buffer;

  constructor(column: string, key: Uint8Array) {
    this.inner = new BytesBuilder(column);
    this.key = Buffer.from(key);
  }

  append(buf: Buffer, start: number, end: number): void {
    this.appendDigest(createHmac('sha256', this.key).update(buf.subarray(start, end)).digest());
  }

  private appendDigest(digest: Buffer): void {
    const hex = this.hex;
    for (let i = 0; i < digest.length; i++) {
      hex[2 * i] = HEX[digest[i] >>> 4];
      hex[2 * i + 1] = HEX[digest[i] & 15];
    }
    this.inner.append(hex, 0, HASHED_LENGTH);
  }

  appendNull(): void {
    this.inner.appendNull();
  }

  get bytes(): number {
    return this.inner.bytes;
  }

  take(): ColumnValues {
    return this.inner.take();
  }
}
