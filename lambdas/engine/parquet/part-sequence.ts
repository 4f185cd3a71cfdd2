/**
 * The parts one shard attempt writes: `part-<shard>-<seq>-<attempt>.parquet`, each closed and the next
 * opened once it reaches the part size. Every sequence ends with at least one part, so that even an empty
 * range leaves a file that carries the table's schema.
 */
import type { PartWriter } from './part-writer';
import type { Compression } from '../contracts';
import type { PartEntry, PartitionJson } from '../contracts';
import { dataFileMetrics, type MetricsColumn, splitOffsets } from '../iceberg/data-file-metrics';
import { partMetrics } from '../iceberg/part-metrics';
import type { Destination } from '../destinations/destination';
import { createHyparquetPartWriter } from './hyparquet-part-writer';
import { partName } from '../run/layout';
import type { ColumnMapping, ColumnValues } from '../columns/column-mapping';

export interface PartSequenceOptions {
  destination: Destination;
  runDir: string;
  shard: number;
  attempt: string;
  columns: Pick<ColumnMapping, 'schema'>[];
  compression: Compression;
  pageVersion: 1 | 2;
  partBytes: number;
  metadata: Record<string, string>;
  /** An Iceberg table's columns: each part's metrics are computed from its footer (its manifest entry's). */
  icebergColumns?: MetricsColumn[];
}

/** The partition a row group belongs to (partitioned Iceberg tables): its key, and its values for the manifest. */
export interface PartPartition {
  key: string;
  values: PartitionJson;
}

interface OpenPart {
  writer: PartWriter;
  seq: number;
  rows: number;
  partition: PartPartition | null;
}

/**
 * A shard's parts. Unpartitioned, one part is open at a time. Partitioned, one per partition that has rows
 * waiting (partition-router.ts decides when one is closed early); every part holds rows of one partition only.
 * Sequence numbers are the shard's, whatever the partition, so every part's name is unique.
 */
export class PartSequence {
  readonly parts: PartEntry[] = [];
  private readonly open = new Map<string, OpenPart>();
  private readonly seqOf = new Map<string, number>();
  private nextSeq = 0;

  constructor(private readonly options: PartSequenceOptions) {}

  /** Bytes of finished parts plus what the open parts have written. */
  get bytes(): number {
    let open = 0;
    for (const part of this.open.values()) open += part.writer.bytesWritten;
    return this.parts.reduce((n, p) => n + p.bytes, 0) + open;
  }

  /** Parts open now (one per partition with rows written and not yet closed). */
  get openParts(): number {
    return this.open.size;
  }

  async writeRowGroup(values: ColumnValues[], rows: number, partition: PartPartition | null = null): Promise<void> {
    if (rows === 0) return;
    const key = partition?.key ?? '';
    let part = this.open.get(key);
    if (!part) {
      part = { writer: this.openWriter(this.nextSeq), seq: this.nextSeq++, rows: 0, partition };
      this.open.set(key, part);
    }
    await part.writer.writeRowGroup(values, rows);
    part.rows += rows;
    if (part.writer.bytesWritten >= this.options.partBytes) await this.closePart(key);
  }

  /** Closes the open part of a partition (`''` unpartitioned), if there is one. */
  async closePart(key = ''): Promise<void> {
    const part = this.open.get(key);
    if (!part) return;
    this.open.delete(key);
    const bytes = await part.writer.finish();
    const columns = this.options.icebergColumns;
    const metrics = columns ? partMetrics(dataFileMetrics(part.writer.footer, columns), splitOffsets(part.writer.footer)) : undefined;
    this.seqOf.set(this.name(part.seq), part.seq);
    this.parts.push({
      path: this.name(part.seq),
      rows: part.rows,
      bytes,
      ...(metrics ? { metrics } : {}),
      ...(part.partition ? { partition: part.partition.values } : {}),
    });
  }

  /** Closes every open part (opening an empty one first if nothing was written at all, to carry the schema). */
  async finish(): Promise<PartEntry[]> {
    if (this.open.size === 0 && this.parts.length === 0) this.open.set('', { writer: this.openWriter(this.nextSeq), seq: this.nextSeq++, rows: 0, partition: null });
    for (const key of [...this.open.keys()]) await this.closePart(key);
    // In the order they were opened, as an unpartitioned shard lists them.
    this.parts.sort((a, b) => this.seqOf.get(a.path)! - this.seqOf.get(b.path)!);
    return this.parts;
  }

  /**
   * Abandons the open parts (nothing becomes visible under their names). Finished parts of an abandoned attempt
   * stay: Export may not delete (least privilege), and Commit removes every part no shard manifest lists.
   */
  async abandon(): Promise<void> {
    for (const part of this.open.values()) await part.writer.abort().catch(() => {});
    this.open.clear();
  }

  private openWriter(seq: number): PartWriter {
    const { destination, columns, compression, metadata, pageVersion } = this.options;
    return createHyparquetPartWriter({
      columns,
      compression,
      pageVersion,
      sink: destination.createObject(this.key(this.name(seq))),
      metadata,
    });
  }

  private name(seq: number): string {
    return partName(this.options.shard, seq, this.options.attempt);
  }

  private key(name: string): string {
    return `${this.options.runDir}/${name}`;
  }
}
