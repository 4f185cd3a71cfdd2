/**
 * Splits a `COPY ... TO STDOUT (FORMAT binary)` byte stream into fields and hands each field's bytes straight
 * to its column's builder. No row object is ever built: this is the hot path of every shard.
 *
 * Format (PostgreSQL docs, "Binary Format"): an 11-byte signature, int32 flags, int32 header-extension length
 * and the extension; then per tuple an int16 field count (-1 marks the trailer) and per field an int32 length
 * (-1 for NULL) followed by that many bytes. Tuples straddle the network chunks freely.
 */
import type { ColumnBuilder } from '../types/column-mapping';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const EMPTY = Buffer.alloc(0);

export class BinaryCopyParser {
  private pending: Buffer = EMPTY;
  private headerDone = false;
  private trailerSeen = false;
  /** Rows completed so far. */
  rows = 0;

  constructor(private readonly builders: ColumnBuilder[]) {}

  /** Consumes a chunk; returns how many rows it completed. */
  push(chunk: Buffer): number {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let pos = 0;
    if (!this.headerDone) {
      if (buf.length < 19) {
        this.pending = buf;
        return 0;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('COPY stream is not in PostgreSQL binary format');
      const extension = buf.readInt32BE(15);
      if (buf.length < 19 + extension) {
        this.pending = buf;
        return 0;
      }
      pos = 19 + extension;
      this.headerDone = true;
    }
    const builders = this.builders;
    const width = builders.length;
    const before = this.rows;
    const end = buf.length;
    while (pos + 2 <= end) {
      if (this.trailerSeen) throw new Error('COPY stream has data after its trailer');
      const fields = buf.readInt16BE(pos);
      if (fields === -1) {
        this.trailerSeen = true;
        pos += 2;
        continue;
      }
      if (fields !== width) {
        throw new Error(`COPY row has ${fields} fields, expected ${width}`);
      }
      // First make sure the whole tuple is here, so that builders never see half a row.
      let p = pos + 2;
      let complete = true;
      for (let i = 0; i < width; i++) {
        if (p + 4 > end) {
          complete = false;
          break;
        }
        const len = buf.readInt32BE(p);
        p += 4;
        if (len > 0) {
          p += len;
          if (p > end) {
            complete = false;
            break;
          }
        }
      }
      if (!complete) break;
      p = pos + 2;
      for (let i = 0; i < width; i++) {
        const len = buf.readInt32BE(p);
        p += 4;
        if (len < 0) {
          builders[i].appendNull();
        } else {
          builders[i].append(buf, p, p + len);
          p += len;
        }
      }
      pos = p;
      this.rows++;
    }
    // Keep the unfinished tail; copy it so the large chunk it came from can be collected.
    this.pending = pos >= end ? EMPTY : Buffer.from(buf.subarray(pos));
    buf = EMPTY;
    return this.rows - before;
  }

  /** Call when the stream ended: anything left over means the stream was cut short. */
  finish(): void {
    if (!this.headerDone || !this.trailerSeen || this.pending.length > 0) {
      throw new Error('COPY stream ended early (no trailer): the connection was interrupted');
    }
  }
}
