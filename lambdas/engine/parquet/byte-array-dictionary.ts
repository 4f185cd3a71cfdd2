/**
 * Dictionary encoding for a BYTE_ARRAY column chunk held in PLAIN layout (4-byte little-endian length, bytes).
 *
 * Entries are the first occurrences of each distinct value, found through an open-addressing hash table of
 * offsets into the PLAIN buffer itself: no string and no Uint8Array is made per value. The dictionary page is
 * the concatenation of those first occurrences, which are already PLAIN-encoded in place.
 *
 * Dictionary encoding is kept only where it wins: it is abandoned early when the first values are nearly all
 * distinct, and at the end when the distinct bytes are more than half of all bytes (where PLAIN plus the page
 * compression does as well), or past the size caps.
 */

/** Values looked at before judging whether the column repeats at all. */
const PROBE_VALUES = 1024;
/** Abandon after the probe when more than this share of the probed values is distinct. */
const PROBE_DISTINCT_RATIO = 0.9;
/** Keep the dictionary only when its bytes are at most this share of all value bytes. */
const KEEP_RATIO = 0.5;
/** Caps: a dictionary page is read whole by every reader of the chunk, and indexes stay within 20 bits. */
const MAX_ENTRIES = 1 << 20;
const MAX_DICTIONARY_BYTES = 8 * 1024 * 1024;

export interface ByteArrayDictionary {
  /** Offset (in the PLAIN buffer) of each entry's length prefix, in first-seen order. */
  entryOffsets: Int32Array;
  entries: number;
  /** PLAIN bytes of all entries, the dictionary page's body. */
  dictionaryBytes: number;
  /** Per non-NULL value, its entry number. */
  indexes: Int32Array;
}

function readLength(plain: Uint8Array, pos: number): number {
  return plain[pos] | (plain[pos + 1] << 8) | (plain[pos + 2] << 16) | (plain[pos + 3] << 24);
}

/** Builds the dictionary of `count` values in `plain`, or returns null when PLAIN is the better encoding. */
export function buildByteArrayDictionary(plain: Uint8Array, count: number): ByteArrayDictionary | null {
  if (count === 0) return null;
  let capacity = 1024;
  let mask = capacity - 1;
  let table = new Int32Array(capacity); // entry number + 1, 0 = empty
  let hashes = new Int32Array(256);
  let offsets = new Int32Array(256);
  let entries = 0;
  let dictionaryBytes = 0;
  const indexes = new Int32Array(count);

  let pos = 0;
  for (let v = 0; v < count; v++) {
    const len = readLength(plain, pos);
    const start = pos + 4;
    const end = start + len;
    // FNV-1a
    let h = 0x811c9dc5 | 0;
    for (let i = start; i < end; i++) h = Math.imul(h ^ plain[i], 0x01000193);
    let slot = h & mask;
    let found = -1;
    for (;;) {
      const e = table[slot];
      if (e === 0) break;
      const entry = e - 1;
      if (hashes[entry] === h) {
        const eo = offsets[entry];
        if (readLength(plain, eo) === len) {
          let same = true;
          for (let i = 0, a = eo + 4; i < len; i++) {
            if (plain[a + i] !== plain[start + i]) {
              same = false;
              break;
            }
          }
          if (same) {
            found = entry;
            break;
          }
        }
      }
      slot = (slot + 1) & mask;
    }
    if (found < 0) {
      found = entries++;
      if (found === offsets.length) {
        const grownOffsets = new Int32Array(offsets.length * 2);
        grownOffsets.set(offsets);
        offsets = grownOffsets;
        const grownHashes = new Int32Array(hashes.length * 2);
        grownHashes.set(hashes);
        hashes = grownHashes;
      }
      offsets[found] = pos;
      hashes[found] = h;
      table[slot] = found + 1;
      dictionaryBytes += 4 + len;
      if (entries > MAX_ENTRIES || dictionaryBytes > MAX_DICTIONARY_BYTES) return null;
      if (entries * 2 > capacity) {
        capacity *= 2;
        mask = capacity - 1;
        table = new Int32Array(capacity);
        for (let e = 0; e < entries; e++) {
          let s = hashes[e] & mask;
          while (table[s] !== 0) s = (s + 1) & mask;
          table[s] = e + 1;
        }
      }
    }
    indexes[v] = found;
    pos = end;
    if (v + 1 === PROBE_VALUES && entries > PROBE_DISTINCT_RATIO * PROBE_VALUES) return null;
  }
  if (dictionaryBytes > KEEP_RATIO * pos) return null;
  return { entryOffsets: offsets, entries, dictionaryBytes, indexes };
}
