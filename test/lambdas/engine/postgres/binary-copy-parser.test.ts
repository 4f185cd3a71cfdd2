/**
 * The binary COPY parser against streams cut into arbitrary chunks: every field reaches its builder exactly
 * once, in order, whatever the cut points (inside the header, a length word, a field, the trailer), including
 * fields far larger than a chunk; truncated and malformed streams are refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryCopyParser } from '../../../../lambdas/engine/postgres/binary-copy-parser';
import type { ColumnBuilder, ColumnValues } from '../../../../lambdas/engine/columns/column-mapping';

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
