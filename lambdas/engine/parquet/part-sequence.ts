/**
 * The parts one shard attempt writes: `part-<shard>-<seq>-<attempt>.parquet`, each closed and the next
 * opened once it reaches the part size. Every sequence ends with at least one part, so that even an empty
 * range leaves a file that carries the table's schema.
 */
import type { PartWriter } from './part-writer';
import type { Compression } from '../contracts';
import type { PartEntry } from '../contracts';
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
  columns: ColumnMapping[];
  compression: Compression;
  pageVersion: 1 | 2;
  partBytes: number;
  metadata: Record<string, string>;
  /** An Iceberg table's columns: each part's metrics are computed from its footer (its manifest entry's). */
  icebergColumns?: MetricsColumn[];
}

export class PartSequence {
  readonly parts: PartEntry[] = [];
  private writer: PartWriter | null = null;
  private rowsInPart = 0;

  constructor(private readonly options: PartSequenceOptions) {}

  /** Bytes of finished parts plus what the open part has written. */
  get bytes(): number {
    return this.parts.reduce((n, p) => n + p.bytes, 0) + (this.writer?.bytesWritten ?? 0);
  }

  async writeRowGroup(values: ColumnValues[], rows: number): Promise<void> {
    if (rows === 0) return;
    const writer = (this.writer ??= this.open());
    await writer.writeRowGroup(values, rows);
    this.rowsInPart += rows;
    if (writer.bytesWritten >= this.options.partBytes) await this.closePart();
  }

  /** Closes the open part (opening an empty one first if nothing was written at all). */
  async finish(): Promise<PartEntry[]> {
    if (this.writer === null && this.parts.length === 0) this.writer = this.open();
    await this.closePart();
    return this.parts;
  }

  /**
   * Abandons the open part (nothing becomes visible under its name). Finished parts of an abandoned attempt
   * stay: Export may not delete (least privilege), and Commit removes every part no shard manifest lists.
   */
  async abandon(): Promise<void> {
    await this.writer?.abort().catch(() => {});
    this.writer = null;
  }

  private async closePart(): Promise<void> {
    const writer = this.writer;
    if (!writer) return;
    this.writer = null;
    const bytes = await writer.finish();
    const columns = this.options.icebergColumns;
    const metrics = columns ? partMetrics(dataFileMetrics(writer.footer, columns), splitOffsets(writer.footer)) : undefined;
    this.parts.push({ path: this.name(this.parts.length), rows: this.rowsInPart, bytes, ...(metrics ? { metrics } : {}) });
    this.rowsInPart = 0;
  }

  private open(): PartWriter {
    const { destination, columns, compression, metadata, pageVersion } = this.options;
    return createHyparquetPartWriter({
      columns,
      compression,
      pageVersion,
      sink: destination.createObject(this.key(this.name(this.parts.length))),
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

