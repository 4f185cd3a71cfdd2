/**
 * Splits a `COPY ... TO STDOUT (FORMAT binary)` byte stream into fields and hands each field's bytes straight
 * to its column's builder. No row object is ever built: this is the hot path of every shard.
 *
 * Format (PostgreSQL docs, "Binary Format"): an 11-byte signature, int32 flags, int32 header-extension length
 * and the extension; then per tuple an int16 field count (-1 marks the trailer) and per field an int32 length
 * (-1 for NULL) followed by that many bytes. Tuples straddle the network chunks freely.
 */
import type { ColumnBuilder } from '../columns/column-mapping';
import { CopyStreamError, ShardRetryableError } from '../errors';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_FIXED = 19;

/**
 * Sequential reads over a list of buffers (the pieces of a row that straddles network chunks), so that its
 * length can be learned without first copying the pieces together.
 */
class PiecesCursor {
  private piece = 0;
  private offset = 0;
  position = 0;

  constructor(private readonly pieces: Buffer[]) {}

  /** Moves `n` bytes on; false when the pieces end first. */
  skip(n: number): boolean {
    while (n > 0) {
      if (this.piece >= this.pieces.length) return false;
      const left = this.pieces[this.piece].length - this.offset;
      if (n < left) {
        this.offset += n;
        this.position += n;
        return true;
      }
      n -= left;
      this.position += left;
      this.piece++;
      this.offset = 0;
    }
    return true;
  }

  /** A big-endian signed integer of `size` bytes, or null when the pieces end first. */
  read(size: 2 | 4): number | null {
    let v = 0;
    for (let i = 0; i < size; i++) {
      while (this.piece < this.pieces.length && this.offset >= this.pieces[this.piece].length) {
        this.piece++;
        this.offset = 0;
      }
      if (this.piece >= this.pieces.length) return null;
      v = v * 256 + this.pieces[this.piece][this.offset++];
      this.position++;
    }
    return size === 2 ? (v << 16) >> 16 : v | 0;
  }
}

export class BinaryCopyParser {
  /** The start of an unfinished header or row: references to the chunks' tails, not copies. */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private headerDone = false;
  private trailerSeen = false;
  /** Rows completed so far. */
  rows = 0;

  constructor(private readonly builders: ColumnBuilder[]) {}

  /** Consumes a chunk; returns how many rows it completed. */
  push(chunk: Buffer): number {
    const before = this.rows;
    let pos = 0;
    if (this.pendingLength > 0) {
      // Finish the header or row begun earlier, copying only its own bytes together.
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
      const need = this.headerDone ? this.pendingRowLength() : this.pendingHeaderLength();
      if (need < 0 || need > this.pendingLength) return 0;
      pos = need - (this.pendingLength - chunk.length);
      this.pending[this.pending.length - 1] = chunk.subarray(0, pos);
      const head = Buffer.concat(this.pending, need);
      this.pending = [];
      this.pendingLength = 0;
      if (this.parse(head, 0) !== need) throw new CopyStreamError('COPY stream is malformed (a row does not end where its fields do)');
    }
    pos = this.parse(chunk, pos);
    if (pos < chunk.length) {
      this.pending = [chunk.subarray(pos)];
      this.pendingLength = chunk.length - pos;
    }
    return this.rows - before;
  }

  /** Length of the header in `pending`, or -1 while its fixed part is incomplete. */
  private pendingHeaderLength(): number {
    const cursor = new PiecesCursor(this.pending);
    if (!cursor.skip(HEADER_FIXED - 4)) return -1;
    const extension = cursor.read(4);
    return extension === null ? -1 : HEADER_FIXED + extension;
  }

  /** Length of the row (or trailer) in `pending`, or -1 while a field header needed to know it is missing. */
  private pendingRowLength(): number {
    const cursor = new PiecesCursor(this.pending);
    const fields = cursor.read(2);
    if (fields === null) return -1;
    if (fields === -1) return 2;
    for (let i = 0; i < fields; i++) {
      const len = cursor.read(4);
      if (len === null) return -1;
      const data = cursor.position;
      // Data cut short: the row's length is known only if no field header comes after this one.
      if (len > 0 && !cursor.skip(len)) return i === fields - 1 ? data + len : -1;
    }
    return cursor.position;
  }

  /** Parses the header (if not yet done) and every complete row of `buf` from `pos`; returns where it stopped. */
  private parse(buf: Buffer, pos: number): number {
    const end = buf.length;
    if (!this.headerDone) {
      if (end - pos < HEADER_FIXED) return pos;
      if (!buf.subarray(pos, pos + 11).equals(SIGNATURE)) throw new CopyStreamError('COPY stream is not in PostgreSQL binary format');
      const extension = buf.readInt32BE(pos + 15);
      if (end - pos < HEADER_FIXED + extension) return pos;
      pos += HEADER_FIXED + extension;
      this.headerDone = true;
    }
    const builders = this.builders;
    const width = builders.length;
    while (pos + 2 <= end) {
      if (this.trailerSeen) throw new CopyStreamError('COPY stream has data after its trailer');
      const fields = buf.readInt16BE(pos);
      if (fields === -1) {
        this.trailerSeen = true;
        pos += 2;
        continue;
      }
      if (fields !== width) {
        throw new CopyStreamError(`COPY row has ${fields} fields, expected ${width}`);
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
    return pos;
  }

  /** Call when the stream ended: anything left over means the stream was cut short. */
  finish(): void {
    if (!this.headerDone || !this.trailerSeen || this.pendingLength > 0) {
      throw new ShardRetryableError('COPY stream ended early (no trailer): the connection was interrupted');
    }
  }
}
