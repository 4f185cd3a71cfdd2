/**
 * The rows of a shard of a partitioned Iceberg table, routed to their partitions as the COPY parser hands them
 * over (docs/iceberg.md, "Partitioning"). The parser itself is untouched: the COPY selects each partition
 * source column once more, first, and those leading fields go to `SourceField` builders, which decode the value
 * exactly as the column's own builder writes it (the mapping's decoder: the run's infinity policy, dates and
 * timestamps from 1970, decimals unscaled). Once a row's last leading field is in, its partition tuple is
 * computed by the spec's transforms (partition-transforms.ts, checked against Iceberg Java) and every field
 * after it goes to that partition's own builders (`RoutedField`). A row group is then one partition's rows, and
 * each part holds one partition (part-sequence.ts).
 *
 * Order: the shard is read sorted by the source columns of the spec's fields other than bucket (`orderBy`):
 * every such transform keeps order (identity, truncate, year, month, day, hour), so the rows of one value of
 * the first of them arrive together, and few partitions are open at once. Strings are sorted as `text COLLATE
 * "C"`, byte order, so that equal strings are adjacent under any collation (a case-insensitive one would
 * interleave `a` and `A`) and a truncated prefix's strings too. Postgres sorts each shard for this unless an
 * index gives the order: the price of files that each hold one partition (docs/iceberg.md, "Partitioning").
 *
 * Memory: every partition with rows waiting holds its own builders. The caller flushes the partition holding
 * the most bytes when all together hold a row group's worth, and closes the part of the partition used least
 * recently when more than `MAX_OPEN_PARTITIONS` have parts open or rows waiting: a bucket transform, or values of
 * a later field spread within the first one's, can keep many open; beyond the bound the parts get smaller (the
 * price of bounded memory, as Iceberg's own fanout writers pay).
 */
import type { ColumnBuilder, ColumnMapping, ColumnValues, ValueDecoder } from '../columns/column-mapping';
import type { PartitionJson } from '../contracts';
import { InternalError } from '../errors';
import type { IcebergField, PartitionSpec } from './model';
import { partitionToJson } from './partition-json';
import { type PartitionValue, type SourceValue, transformFunction } from './partition-transforms';

/** Partitions with rows waiting or a part open, at most, before the least recently used one is closed. */
export const MAX_OPEN_PARTITIONS = 32;

/** One partition's rows waiting to be written. */
export interface PartitionGroup {
  /** Identifies the partition (its values in JSON). */
  readonly key: string;
  readonly values: PartitionJson;
  readonly builders: ColumnBuilder[];
  rows: number;
  /** When a row last went to it (a counter). */
  lastUsed: number;
}

/** A leading field: a partition source column's value, decoded as its column's builder writes it. */
class SourceField implements ColumnBuilder {
  constructor(
    private readonly router: PartitionRouter,
    private readonly index: number,
    private readonly decoder: ValueDecoder,
  ) {}

  append(buf: Buffer, start: number, end: number): void {
    this.router.source(this.index, this.decoder.decode(buf, start, end) as SourceValue);
    this.decoder.reset();
  }

  appendNull(): void {
    this.router.source(this.index, null);
  }

  get bytes(): number {
    return 0;
  }

  take(): ColumnValues {
    throw new InternalError('a partition source field holds no column');
  }
}

/** A table column's field, appended to the builder of the row's partition. */
class RoutedField implements ColumnBuilder {
  constructor(
    private readonly router: PartitionRouter,
    private readonly index: number,
  ) {}

  append(buf: Buffer, start: number, end: number): void {
    this.router.current().builders[this.index].append(buf, start, end);
  }

  appendNull(): void {
    this.router.current().builders[this.index].appendNull();
  }

  get bytes(): number {
    return 0;
  }

  take(): ColumnValues {
    throw new InternalError('a routed field is taken through its partition');
  }
}

export class PartitionRouter {
  /** The builders the COPY parser feeds: the leading source fields, then one per table column. */
  readonly fields: ColumnBuilder[];
  /** Select-list expressions of the leading fields (each source column's own, so it reads as the column does). */
  readonly leadingSelects: string[];
  /** ORDER BY expressions that bring each partition's rows together (see the file's comment). */
  readonly orderBy: string[];
  private readonly groups = new Map<string, PartitionGroup>();
  private readonly sourceValues: SourceValue[];
  private readonly transforms: { source: number; apply: (value: SourceValue) => PartitionValue }[];
  private active: PartitionGroup | null = null;
  private clock = 0;

  constructor(
    spec: PartitionSpec,
    schema: readonly IcebergField[],
    private readonly mappings: readonly ColumnMapping[],
    quote: (name: string) => string,
  ) {
    if (spec.fields.length === 0) throw new InternalError('a partition router needs a partitioned spec');
    const sources: number[] = [];
    this.transforms = spec.fields.map((field) => {
      const column = schema.find((f) => f.id === field['source-id']);
      if (!column) throw new InternalError(`partition field "${field.name}": no column with id ${field['source-id']}`);
      let at = sources.indexOf(column.id);
      if (at < 0) at = sources.push(column.id) - 1;
      return { source: at, apply: transformFunction(field.transform, column.type, column.name) };
    });
    this.sourceValues = sources.map(() => null);
    const leading = sources.map((id, i) => {
      const name = schema.find((f) => f.id === id)!.name;
      const mapping = mappings.find((m) => m.plan.name === name);
      if (!mapping?.decoder) throw new InternalError(`partition source column "${name}" has no decoder (hashed or a list)`);
      return { select: mapping.select(quote(name)), field: new SourceField(this, i, mapping.decoder()) };
    });
    this.leadingSelects = leading.map((l) => l.select);
    const ordered: number[] = [];
    for (const field of spec.fields) {
      if (field.transform.startsWith('bucket')) continue;
      if (!ordered.includes(field['source-id'])) ordered.push(field['source-id']);
    }
    this.orderBy = ordered.map((id) => {
      const column = schema.find((f) => f.id === id)!;
      const select = leading[sources.indexOf(id)].select;
      return column.type === 'string' ? `(${select})::text COLLATE "C"` : `(${select})`;
    });
    this.fields = [...leading.map((l) => l.field), ...mappings.map((_, i) => new RoutedField(this, i))];
  }

  /** A leading field's value; the last one routes the row. */
  source(index: number, value: SourceValue): void {
    this.sourceValues[index] = value;
    if (index === this.sourceValues.length - 1) this.route();
  }

  /** The partition of the row being read. */
  current(): PartitionGroup {
    if (!this.active) throw new InternalError('a column field arrived before the row\'s partition');
    return this.active;
  }

  /** Bytes all partitions' rows hold. */
  get heldBytes(): number {
    let total = 0;
    for (const group of this.groups.values()) for (const b of group.builders) total += b.bytes;
    return total;
  }

  /** Partitions with rows waiting (or kept for their open part). */
  get size(): number {
    return this.groups.size;
  }

  /** The partition whose rows hold the most bytes, if any rows wait. */
  largest(): PartitionGroup | null {
    let best: PartitionGroup | null = null;
    let bestBytes = -1;
    for (const group of this.groups.values()) {
      if (group.rows === 0) continue;
      let bytes = 0;
      for (const b of group.builders) bytes += b.bytes;
      if (bytes > bestBytes) {
        best = group;
        bestBytes = bytes;
      }
    }
    return best;
  }

  /** Partitions holding rows, in the order they were last used (least recent first). */
  withRows(): PartitionGroup[] {
    return [...this.groups.values()].filter((g) => g.rows > 0).sort((a, b) => a.lastUsed - b.lastUsed);
  }

  /** The partition used least recently. */
  leastRecent(): PartitionGroup | null {
    let oldest: PartitionGroup | null = null;
    for (const group of this.groups.values()) if (!oldest || group.lastUsed < oldest.lastUsed) oldest = group;
    return oldest;
  }

  /** A partition's waiting rows, handed out (its builders start empty again). */
  take(group: PartitionGroup): { values: ColumnValues[]; rows: number } {
    const rows = group.rows;
    group.rows = 0;
    return { values: group.builders.map((b) => b.take()), rows };
  }

  /** Forgets a partition whose rows were all taken (its part closed): a later row of it starts anew. */
  forget(group: PartitionGroup): void {
    if (group.rows > 0) throw new InternalError(`partition ${group.key} still holds ${group.rows} rows`);
    this.groups.delete(group.key);
    if (this.active === group) this.active = null;
  }

  private route(): void {
    const values = this.transforms.map((t) => t.apply(this.sourceValues[t.source]));
    const json = partitionToJson(values);
    const key = JSON.stringify(json);
    let group = this.active?.key === key ? this.active : this.groups.get(key);
    if (!group) {
      group = { key, values: json, builders: this.mappings.map((m) => m.newBuilder()), rows: 0, lastUsed: 0 };
      this.groups.set(key, group);
    }
    group.rows++;
    group.lastUsed = ++this.clock;
    this.active = group;
  }
}
