/**
 * Owned storage for variable-length values. COPY chunks are transient, so every kept value is copied; copying
 * into large shared chunks and handing out views costs one small view object per value instead of one
 * ArrayBuffer allocation per value.
 */
const FIRST_CHUNK = 64 * 1024;
const MAX_CHUNK = 1024 * 1024;
/** Values at least this long get their own allocation instead of wasting the rest of a chunk. */
const OWN_ALLOCATION = 64 * 1024;
const EMPTY = new Uint8Array(0);

export class ByteArena {
  private chunk: Uint8Array = EMPTY;
  private pos = 0;
  private nextSize = FIRST_CHUNK;

  /** A copy of `buf[start, end)` that stays valid until the caller drops it (views are never reused). */
  copy(buf: Uint8Array, start: number, end: number): Uint8Array {
    const len = end - start;
    if (len >= OWN_ALLOCATION) {
      // Not `buf.slice`: on a Buffer that is a view of the transient chunk.
      const own = new Uint8Array(len);
      own.set(buf.subarray(start, end));
      return own;
    }
    let pos = this.pos;
    let chunk = this.chunk;
    if (pos + len > chunk.length) {
      chunk = this.chunk = new Uint8Array(this.nextSize);
      if (this.nextSize < MAX_CHUNK) this.nextSize *= 2;
      pos = 0;
    }
    // A plain loop beats `set(buf.subarray(...))` for short values: no view object per value.
    if (len <= 256) {
      for (let i = 0; i < len; i++) chunk[pos + i] = buf[start + i];
    } else {
      chunk.set(buf.subarray(start, end), pos);
    }
    this.pos = pos + len;
    return chunk.subarray(pos, pos + len);
  }

  /** Stops filling the current chunk: the views handed out so far stay untouched. */
  reset(): void {
    this.chunk = EMPTY;
    this.pos = 0;
  }
}
