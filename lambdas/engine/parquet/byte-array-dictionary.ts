/**
 * Dictionary encoding for a BYTE_ARRAY column chunk held in PLAIN layout (4-byte little-endian length, bytes).
 *
 * Entries are the first occurrences of each distinct value, found through an open-addressing hash table of
 * offsets into the PLAIN buffer itself: no string and no Uint8Array is made per value. The dictionary page is
 * the concatenation of those first occurrences, which are already PLAIN-encoded in place.
 *
 * Dictionary encoding is used only where it wins: when the distinct values' bytes are at most half of all value
 * bytes (beyond that PLAIN plus the page compression does as well) and within the size caps. Whether a large
 * chunk can qualify is judged first from a sample spread over the whole chunk: the number of distinct values
 * in the sample gives an estimate of the chunk's distinct count, so a column of unique values (ids, documents)
 * costs a sample, not a full hashing pass. A prefix or a "mostly distinct sample" rule would refuse columns
 * such as 5,000 SKUs in 150,000 rows, whose samples look nearly distinct yet whose dictionary is 3% of the data.
 */
import { plainLength } from '../columns/flat-column';

/** Values sampled before building the dictionary of a large chunk. */
const SAMPLE_VALUES = 2048;
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

/**
 * The number of distinct values D that a uniform sample of `sampled` values showing `distinct` of them points
 * to: the solution of D * (1 - exp(-sampled / D)) = distinct (Infinity when every sampled value differed).
 */
export function estimateDistinct(distinct: number, sampled: number): number {
  if (distinct >= sampled) return Infinity;
  let lo = distinct;
  let hi = distinct * 2;
  const seen = (d: number) => d * (1 - Math.exp(-sampled / d));
  while (seen(hi) < distinct) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (seen(mid) < distinct) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Builds the dictionary of `count` values in `plain`, or returns null when PLAIN is the better encoding. */
export function buildByteArrayDictionary(plain: Uint8Array, count: number): ByteArrayDictionary | null {
  if (count === 0) return null;
  // One value past the cap rules a dictionary out; known without hashing (or sampling a copy of) it.
  if (plain.length > MAX_DICTIONARY_BYTES && longestValue(plain, count) > MAX_DICTIONARY_BYTES) return null;
  if (count > 2 * SAMPLE_VALUES) {
    const sample = sampleOf(plain, count, SAMPLE_VALUES);
    const sampled = dictionaryOf(sample, SAMPLE_VALUES, Infinity);
    const distinct = sampled ? sampled.entries : SAMPLE_VALUES;
    // Assume the average value length of the sample's distinct values holds for the whole chunk.
    const estimate = estimateDistinct(distinct, SAMPLE_VALUES);
    if (estimate > MAX_ENTRIES) return null;
    const averageBytes = sampled ? sampled.dictionaryBytes / sampled.entries : 0;
    if (estimate * averageBytes > KEEP_RATIO * plain.length) return null;
  }
  return dictionaryOf(plain, count, KEEP_RATIO * plain.length);
}

function longestValue(plain: Uint8Array, count: number): number {
  let longest = 0;
  for (let v = 0, pos = 0; v < count; v++) {
    const len = plainLength(plain, pos);
    if (len > longest) longest = len;
    pos += 4 + len;
  }
  return longest;
}

/** `n` values spread evenly over the chunk, copied into a PLAIN buffer of their own. */
function sampleOf(plain: Uint8Array, count: number, n: number): Uint8Array {
  const starts = new Int32Array(n);
  let next = 0;
  let pos = 0;
  let bytes = 0;
  for (let v = 0; v < count && next < n; v++) {
    const size = 4 + plainLength(plain, pos);
    if (v === Math.floor((next * (count - 1)) / (n - 1))) {
      starts[next++] = pos;
      bytes += size;
    }
    pos += size;
  }
  const out = new Uint8Array(bytes);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const from = starts[i];
    const size = 4 + plainLength(plain, from);
    out.set(plain.subarray(from, from + size), at);
    at += size;
  }
  return out;
}

/** The dictionary of all `count` values, or null once its PLAIN bytes pass `maxBytes` or a cap. */
function dictionaryOf(plain: Uint8Array, count: number, maxBytes: number): ByteArrayDictionary | null {
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
    const len = plainLength(plain, pos);
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
        if (plainLength(plain, eo) === len) {
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
      if (entries > MAX_ENTRIES || dictionaryBytes > MAX_DICTIONARY_BYTES || dictionaryBytes > maxBytes) return null;
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
  }
  return { entryOffsets: offsets, entries, dictionaryBytes, indexes };
}
