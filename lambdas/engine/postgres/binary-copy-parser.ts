/**
 * Splits a `COPY ... TO STDOUT (FORMAT binary)` byte stream into fields and hands each field's bytes straight
 * to its column's builder. No row object is ever built: this is the hot path of every shard.
 *
 * Format (PostgreSQL docs, "Binary Format"): an 11-byte signature, int32 flags, int32 header-extension length
 * and the extension; then per tuple an int16 field count (-1 marks the trailer) and per field an int32 length
 * (-1 for NULL) followed by that many bytes. Tuples straddle the network chunks freely.
 *
 * Rows that lie whole in a chunk are parsed in place. A row that straddles chunks is assembled as its bytes
 * arrive (`StraddlingRow`): small fields are copied into a scratch buffer, and a large one (LARGE_VALUE_BYTES
 * or more) goes into a buffer its builder set aside for it (`ColumnBuilder.stage`), so the network chunks it
 * arrived in are let go at once. Builders see a row only once all of it has arrived, never half of one.
 */
import type { ColumnBuilder, StagedValue } from '../columns/column-mapping';
import { CopyStreamError, ShardRetryableError } from '../errors';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_FIXED = 19;

/**
 * A field at least this long is a large value: written straight into a buffer its builder stages for it, and
 * the row group it is in closes right after it (`tookLargeValue`; export-shard.ts closes the one before it
 * too). A 100 MB value is then held once while it arrives and twice while its page is compressed, never more.
 */
export const LARGE_VALUE_BYTES = 1024 * 1024;

/** The scratch buffer of straddling rows is let go after a row that needed more than this. */
const SCRATCH_KEEP = 1024 * 1024;

const COUNT = 0;
const LENGTH = 1;
const DATA = 2;
/** `starts` markers: a NULL field, a field staged in its builder. */
const NULL_FIELD = -1;
const STAGED_FIELD = -2;

/** One row that straddles chunks, assembled from the bytes as they arrive. */
class StraddlingRow {
  private phase = COUNT;
  private word = 0;
  private wordBytes = 0;
  private field = 0;
  private remaining = 0;
  private target: Uint8Array = new Uint8Array(0);
  private targetAt = 0;
  private scratch: Buffer = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private readonly starts: Int32Array;
  private readonly lengths: Int32Array;
  private readonly staged: (StagedValue | null)[];
  /** The trailer straddled chunks: no row, the end of the data. */
  trailer = false;
  /** Bytes the row has announced so far (its fields' lengths), arrived or not. */
  announced = 0;

  constructor(private readonly builders: ColumnBuilder[]) {
    this.starts = new Int32Array(builders.length);
    this.lengths = new Int32Array(builders.length);
    this.staged = builders.map(() => null);
  }

  begin(): void {
    this.phase = COUNT;
    this.word = 0;
    this.wordBytes = 0;
    this.field = 0;
    this.used = 0;
    this.trailer = false;
    this.announced = 0;
    this.staged.fill(null);
  }

  /** Takes the row's bytes from `buf` at `pos`; returns where the row ended in `buf`, or -1 when it goes on. */
  feed(buf: Buffer, pos: number): number {
    const end = buf.length;
    const width = this.builders.length;
    while (pos < end) {
      if (this.phase !== DATA) {
        const size = this.phase === COUNT ? 2 : 4;
        while (this.wordBytes < size && pos < end) {
          this.word = this.word * 256 + buf[pos++];
          this.wordBytes++;
        }
        if (this.wordBytes < size) return -1;
        const value = size === 2 ? (this.word << 16) >> 16 : this.word | 0;
        this.word = 0;
        this.wordBytes = 0;
        if (this.phase === COUNT) {
          if (value === -1) {
            this.trailer = true;
            return pos;
          }
          if (value !== width) throw new CopyStreamError(`COPY row has ${value} fields, expected ${width}`);
          this.phase = LENGTH;
          continue;
        }
        const field = this.field;
        this.lengths[field] = value;
        if (value <= 0) {
          this.starts[field] = value < 0 ? NULL_FIELD : this.used;
          if (++this.field === width) return pos;
          continue;
        }
        this.announced += value;
        const staged = value >= LARGE_VALUE_BYTES ? (this.builders[field].stage?.(value) ?? null) : null;
        if (staged) {
          this.staged[field] = staged;
          this.starts[field] = STAGED_FIELD;
          this.target = staged.target;
          this.targetAt = 0;
        } else {
          this.reserve(value);
          this.starts[field] = this.used;
          this.target = this.scratch;
          this.targetAt = this.used;
          this.used += value;
        }
        this.remaining = value;
        this.phase = DATA;
        continue;
      }
      const n = Math.min(this.remaining, end - pos);
      buf.copy(this.target, this.targetAt, pos, pos + n);
      this.targetAt += n;
      pos += n;
      this.remaining -= n;
      if (this.remaining > 0) return -1;
      this.phase = LENGTH;
      if (++this.field === width) return pos;
    }
    return -1;
  }

  /** Hands the whole row to the builders; returns whether a staged (large) value was among its fields. */
  commit(): boolean {
    const builders = this.builders;
    let large = false;
    for (let i = 0; i < builders.length; i++) {
      const start = this.starts[i];
      if (start === NULL_FIELD) builders[i].appendNull();
      else if (start === STAGED_FIELD) {
        this.staged[i]!.commit();
        this.staged[i] = null;
        large = true;
      } else builders[i].append(this.scratch, start, start + this.lengths[i]);
    }
    if (this.scratch.length > SCRATCH_KEEP) this.scratch = Buffer.allocUnsafe(64 * 1024);
    return large;
  }

  private reserve(size: number): void {
    if (this.used + size <= this.scratch.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.used + size, this.scratch.length * 2));
    this.scratch.copy(grown, 0, 0, this.used);
    this.scratch = grown;
  }
}

export class BinaryCopyParser {
  /** The start of an unfinished header: references to the chunks, not copies. */
  private header: Buffer[] = [];
  private headerLength = 0;
  private headerDone = false;
  private trailerSeen = false;
  private readonly row: StraddlingRow;
  private straddling = false;
  /** Rows completed so far. */
  rows = 0;
  /** Whether the last `push` completed a row holding a large value (its row group should close now). */
  tookLargeValue = false;

  constructor(private readonly builders: ColumnBuilder[]) {
    this.row = new StraddlingRow(builders);
  }

  /** Bytes an unfinished row has announced (or an unfinished header holds), waiting for the rest of it. */
  get pendingBytes(): number {
    return this.straddling ? this.row.announced : this.headerLength;
  }

  /** Consumes a chunk; returns how many rows it completed. */
  push(chunk: Buffer): number {
    const before = this.rows;
    this.tookLargeValue = false;
    let pos = 0;
    if (!this.headerDone) {
      pos = this.pushHeader(chunk);
      if (pos < 0) return 0;
    }
    if (this.straddling) {
      pos = this.row.feed(chunk, pos);
      if (pos < 0) return 0;
      this.straddling = false;
      this.finishRow();
    }
    pos = this.parse(chunk, pos);
    if (pos < chunk.length) {
      if (this.trailerSeen) throw new CopyStreamError('COPY stream has data after its trailer');
      this.straddling = true;
      this.row.begin();
      // parse() stopped because the row goes on past this chunk.
      if (this.row.feed(chunk, pos) >= 0) throw new CopyStreamError('COPY stream is malformed (a row does not end where its fields do)');
    }
    return this.rows - before;
  }

  /** Takes header bytes; returns where the rows start in `chunk`, or -1 while the header is incomplete. */
  private pushHeader(chunk: Buffer): number {
    this.header.push(chunk);
    this.headerLength += chunk.length;
    if (this.headerLength < HEADER_FIXED) return -1;
    const head = this.header.length === 1 ? chunk : Buffer.concat(this.header, this.headerLength);
    if (!head.subarray(0, 11).equals(SIGNATURE)) throw new CopyStreamError('COPY stream is not in PostgreSQL binary format');
    const length = HEADER_FIXED + head.readInt32BE(15);
    if (this.headerLength < length) return -1;
    const consumed = length - (this.headerLength - chunk.length);
    this.header = [];
    this.headerLength = 0;
    this.headerDone = true;
    return consumed;
  }

  private finishRow(): void {
    if (this.row.trailer) {
      this.trailerSeen = true;
      return;
    }
    if (this.row.commit()) this.tookLargeValue = true;
    this.rows++;
  }

  /** Parses every complete row of `buf` from `pos`; returns where it stopped. */
  private parse(buf: Buffer, pos: number): number {
    const end = buf.length;
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
      // First make sure the whole tuple is here, so that builders never see half a row. (Lengths are read
      // byte by byte: readInt32BE's checks made it a fifth of the parser's time on a 1,000-column table.)
      let p = pos + 2;
      let complete = true;
      for (let i = 0; i < width; i++) {
        if (p + 4 > end) {
          complete = false;
          break;
        }
        const len = (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
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
        const len = (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
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
    if (!this.headerDone || !this.trailerSeen || this.straddling || this.headerLength > 0) {
      throw new ShardRetryableError('COPY stream ended early (no trailer): the connection was interrupted');
    }
  }
}
