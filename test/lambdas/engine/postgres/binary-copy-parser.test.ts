/**
 * The binary COPY parser against streams cut into arbitrary chunks: every field reaches its builder exactly
 * once, in order, whatever the cut points (inside the header, a length word, a field, the trailer), including
 * fields far larger than a chunk; truncated and malformed streams are refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryCopyParser, LARGE_VALUE_BYTES } from '../../../../lambdas/engine/postgres/binary-copy-parser';
import type { ColumnBuilder, ColumnValues, StagedValue } from '../../../../lambdas/engine/columns/column-mapping';
import type { FlatColumn } from '../../../../lambdas/engine/columns/flat-column';
import { newBytesBuilder } from '../../../../lambdas/engine/columns/builders/byte-array';

type Field = Buffer | null;

/** Records what it is given: hex of each field, or null. */
class RecordingBuilder implements ColumnBuilder {
  readonly seen: (string | null)[] = [];
  append(buf: Buffer, start: number, end: number): void {
    this.seen.push(buf.subarray(start, end).toString('hex'));
  }
  appendNull(): void {
    this.seen.push(null);
  }
  get bytes(): number {
    return 0;
  }
  take(): ColumnValues {
    return [];
  }
}

/** Records what it is given, and takes large values into buffers it stages (as BytesBuilder does). */
class StagingBuilder extends RecordingBuilder {
  staged = 0;
  stage(length: number): StagedValue {
    const target = new Uint8Array(length);
    return {
      target,
      commit: () => {
        this.staged++;
        this.seen.push(Buffer.from(target).toString('hex'));
      },
    };
  }
}

/** A binary COPY stream as Postgres writes it (with a header extension, to exercise its length). */
function copyStream(rows: Field[][], extension = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')];
  const word = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return b;
  };
  parts.push(word(0), word(extension.length), extension);
  for (const row of rows) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(row.length);
    parts.push(count);
    for (const f of row) parts.push(f === null ? word(-1) : Buffer.concat([word(f.length), f]));
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

function feed(stream: Buffer, cuts: number[], width: number): (string | null)[][] {
  const builders = Array.from({ length: width }, () => new RecordingBuilder());
  const parser = new BinaryCopyParser(builders);
  let at = 0;
  let rows = 0;
  for (const cut of [...new Set(cuts)].filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b)) {
    rows += parser.push(stream.subarray(at, cut));
    at = cut;
  }
  rows += parser.push(stream.subarray(at));
  parser.finish();
  expect(rows).toBe(builders[0].seen.length);
  return builders[0].seen.map((_, r) => builders.map((b) => b.seen[r]));
}

const hexOf = (rows: Field[][]) => rows.map((row) => row.map((f) => (f === null ? null : f.toString('hex'))));

/** Hex of every value of a BYTE_ARRAY FlatColumn (NULLs as null). */
function valuesOf(column: FlatColumn): (string | null)[] {
  const out: (string | null)[] = [];
  let pos = 0;
  for (let r = 0; r < column.rows; r++) {
    if (column.nullMask?.[r]) {
      out.push(null);
      continue;
    }
    const len = column.plain[pos] | (column.plain[pos + 1] << 8) | (column.plain[pos + 2] << 16) | (column.plain[pos + 3] << 24);
    out.push(Buffer.from(column.plain.subarray(pos + 4, pos + 4 + len)).toString('hex'));
    pos += 4 + len;
  }
  return out;
}

describe('BinaryCopyParser', () => {
  it('delivers every field once, in order, however the stream is cut', () => {
    const field = fc.oneof(
      fc.constant(null),
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      fc.integer({ min: 100, max: 5000 }).map((n) => Buffer.alloc(n, n % 251)),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(field, field, field), { maxLength: 30 }),
        fc.uint8Array({ maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (rows, extension, rawCuts) => {
          const stream = copyStream(rows, Buffer.from(extension));
          const cuts = rawCuts.map((c) => c % (stream.length + 1));
          expect(feed(stream, cuts, 3)).toEqual(hexOf(rows));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('handles a field far larger than the chunks, arriving in small pieces', () => {
    const big = Buffer.alloc(3_000_000, 7);
    const rows: Field[][] = [[Buffer.from('a'), big], [null, Buffer.from('z')]];
    const stream = copyStream(rows);
    const cuts = Array.from({ length: Math.floor(stream.length / 65536) }, (_, i) => (i + 1) * 65536 - 3);
    expect(feed(stream, cuts, 2)).toEqual(hexOf(rows));
  });

  it('stages large values in their builders as they arrive, several in one row, whatever the cuts', () => {
    const big = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
    const rows: Field[][] = [
      [Buffer.from('a'), big(LARGE_VALUE_BYTES + 5, 1), null],
      [big(LARGE_VALUE_BYTES * 2, 2), Buffer.from('b'), big(LARGE_VALUE_BYTES, 3)],
      [null, Buffer.alloc(0), Buffer.from('c')],
    ];
    const stream = copyStream(rows);
    for (const size of [65536, 65536 - 3, 7919, LARGE_VALUE_BYTES + 11]) {
      const builders = [new StagingBuilder(), new StagingBuilder(), new StagingBuilder()];
      const parser = new BinaryCopyParser(builders);
      let taken = 0;
      for (let at = 0; at < stream.length; at += size) {
        parser.push(stream.subarray(at, at + size));
        if (parser.tookLargeValue) taken++;
      }
      parser.finish();
      expect(builders[0].seen.map((_, r) => builders.map((b) => b.seen[r]))).toEqual(hexOf(rows));
      // Values that straddled chunks were staged (a chunk as large as the value may hold one whole).
      expect(builders.reduce((n, b) => n + b.staged, 0)).toBeGreaterThanOrEqual(size < LARGE_VALUE_BYTES ? 3 : 1);
      expect(taken).toBeGreaterThanOrEqual(1);
    }
  });

  it('a builder holding nothing takes a staged value as its own buffer; rows before it can be taken meanwhile', () => {
    const large = Buffer.alloc(3 * LARGE_VALUE_BYTES, 0x5a);
    const doc = Buffer.concat([Buffer.from([1]), Buffer.alloc(2 * LARGE_VALUE_BYTES, 0x7b)]); // jsonb: version 1, then the text
    const rows: Field[][] = [
      [Buffer.from('first'), Buffer.from([1, 0x31])],
      [large, doc],
      [Buffer.from('after'), Buffer.from([1, 0x32])],
    ];
    const stream = copyStream(rows);
    const builders = [newBytesBuilder('b'), newBytesBuilder('j', 1)];
    const parser = new BinaryCopyParser(builders);
    const groups: (string | null)[][][] = [];
    const flush = () => groups.push(builders.map((b) => valuesOf(b.take() as FlatColumn)));
    let inGroup = 0;
    for (let at = 0; at < stream.length; at += 65536) {
      inGroup += parser.push(stream.subarray(at, at + 65536));
      // As export-shard.ts does: the rows before a large one are flushed while it arrives, its own right after.
      if (inGroup > 0 && (parser.tookLargeValue || parser.pendingBytes >= LARGE_VALUE_BYTES)) {
        flush();
        inGroup = 0;
      }
    }
    parser.finish();
    if (inGroup > 0) flush();
    expect(groups).toEqual([
      [[Buffer.from('first').toString('hex')], ['31']],
      [[large.toString('hex'), Buffer.from('after').toString('hex')], ['7b'.repeat(2 * LARGE_VALUE_BYTES), '32']],
    ]);
  });

  it('cuts inside the header and inside a length word', () => {
    const rows: Field[][] = [[Buffer.from('hello')], [null], [Buffer.alloc(0)]];
    const stream = copyStream(rows);
    for (let cut = 1; cut < stream.length; cut++) expect(feed(stream, [cut], 1)).toEqual(hexOf(rows));
    // Every byte its own chunk.
    expect(feed(stream, Array.from({ length: stream.length }, (_, i) => i), 1)).toEqual(hexOf(rows));
  });

  it('refuses a stream cut short, a wrong signature, a wrong field count and data after the trailer', () => {
    const stream = copyStream([[Buffer.from('x'), Buffer.from('y')]]);
    const cut = new BinaryCopyParser([new RecordingBuilder(), new RecordingBuilder()]);
    cut.push(stream.subarray(0, stream.length - 3));
    expect(() => cut.finish()).toThrow(/ended early/);
    expect(() => new BinaryCopyParser([new RecordingBuilder()]).push(Buffer.from('NOTCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1'))).toThrow(
      /not in PostgreSQL binary format/,
    );
    expect(() => new BinaryCopyParser([new RecordingBuilder()]).push(stream)).toThrow(/2 fields, expected 1/);
    const after = new BinaryCopyParser([new RecordingBuilder(), new RecordingBuilder()]);
    expect(() => after.push(Buffer.concat([stream, Buffer.from([0, 2])]))).toThrow(/after its trailer/);
  });
});
