/**
 * An Iceberg table without a catalog, found by its path: `<table>/metadata/v<N>.metadata.json` and
 * `<table>/metadata/version-hint.text` holding `N`, the convention DuckDB's `iceberg_scan`, pyiceberg's
 * `StaticTable` and icebird read (docs/iceberg.md, "Tables by path"). The commit is the create-only write of
 * `v<N+1>.metadata.json` (S3 `If-None-Match: *`, an exclusive create on a folder): of two writers only one
 * creates it. The hint is then rewritten; it is only a hint, so a reader that finds `v<N+1>` beyond it (a
 * writer that stopped between the two writes) takes that, and so does this catalog's `load`.
 *
 * The hint holds the number and nothing else: DuckDB and pyiceberg use its text as it is, and a trailing
 * newline would name a file that is not there.
 */
import type { Destination } from '../destinations/destination';
import { RunDocumentError } from '../errors';
import { type CommitAnswer, type IcebergCatalog, type IcebergTableRef, type LoadedTable, parseTableMetadata } from './iceberg-catalog';
import type { TableMetadata } from './model';
import { serializeTableMetadata } from './table-metadata';

export const VERSION_HINT = 'metadata/version-hint.text';
export const metadataFileKey = (tableDir: string, version: number) => `${tableDir}/metadata/v${version}.metadata.json`;

export class FileSystemCatalog implements IcebergCatalog {
  readonly name = 'file-system';

  constructor(
    private readonly destination: Destination,
    /** The absolute URI of a destination key (file-system tables name their files by URI). */
    private readonly uri: (key: string) => string,
  ) {}

  async load(table: IcebergTableRef): Promise<LoadedTable | null> {
    const hint = await this.destination.get(`${table.dir}/${VERSION_HINT}`);
    let version = 0;
    if (hint) {
      const text = hint.toString('utf8').trim();
      if (!/^\d+$/.test(text)) throw new RunDocumentError(`${this.destination.location(`${table.dir}/${VERSION_HINT}`)} holds ${JSON.stringify(text)}, not a version number`);
      version = Number(text);
    }
    // The hint may be behind: a writer that created v<N+1> and stopped before the hint.
    let found: { version: number; text: Buffer } | null = null;
    for (let v = Math.max(version, 1); ; v++) {
      const text = await this.destination.get(metadataFileKey(table.dir, v));
      if (!text) break;
      found = { version: v, text };
    }
    if (!found) {
      if (version > 0) throw new RunDocumentError(`table ${table.table}: ${VERSION_HINT} names version ${version}, but ${this.destination.location(metadataFileKey(table.dir, version))} is missing`);
      return null;
    }
    const key = metadataFileKey(table.dir, found.version);
    return {
      metadata: parseTableMetadata(found.text.toString('utf8'), this.destination.location(key)),
      metadataLocation: this.uri(key),
      version: String(found.version),
    };
  }

  async commit(table: IcebergTableRef, base: LoadedTable | null, metadata: TableMetadata): Promise<CommitAnswer> {
    const next = base ? Number(base.version) + 1 : 1;
    const key = metadataFileKey(table.dir, next);
    if (!(await this.destination.putIfAbsent(key, serializeTableMetadata(metadata)))) {
      return { committed: false, reason: `another commit created version ${next} first` };
    }
    await this.destination.put(`${table.dir}/${VERSION_HINT}`, String(next));
    return { committed: true, metadataLocation: this.uri(key) };
  }
}
