/**
 * A stand-in for the three Glue Data Catalog calls Commit makes (GetTable, CreateTable, UpdateTable) on
 * 127.0.0.1, for running the deployed Commit bundle here: the bundle's AWS SDK sends its real JSON-protocol
 * requests (`X-Amz-Target: AWSGlue.<Operation>`) to `AWS_ENDPOINT_URL_GLUE`. Tables live in memory with a
 * version each, as Glue keeps them; an UpdateTable whose VersionId is stale is refused as Glue would. Any
 * other call is answered with an error, so an unexpected one fails loudly.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GlueTableInput } from '../../lambdas/engine/catalog/glue-table-input';

export interface StoredTable {
  DatabaseName: string;
  VersionId: string;
  /** As the caller sent it (the SDK drops nothing pgsip sets). */
  TableInput: GlueTableInput;
}

export interface GlueStandIn {
  endpoint: string;
  /** `<database>.<table>` → what Glue holds. */
  tables: Map<string, StoredTable>;
  /** Operations in the order they arrived. */
  calls: string[];
  stop(): Promise<void>;
}

export async function startGlueStandIn(databases: readonly string[]): Promise<GlueStandIn> {
  const tables = new Map<string, StoredTable>();
  const calls: string[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      const answer = (status: number, json: object) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(json));
      };
      const operation = String(request.headers['x-amz-target'] ?? '').replace(/^AWSGlue\./, '');
      calls.push(operation);
      const input = JSON.parse(body || '{}') as { DatabaseName?: string; Name?: string; VersionId?: string; TableInput?: StoredTable['TableInput'] };
      if (!databases.includes(input.DatabaseName ?? '')) {
        answer(400, { __type: 'EntityNotFoundException', message: `Database ${input.DatabaseName} not found.` });
        return;
      }
      const key = (name: string) => `${input.DatabaseName}.${name}`;
      switch (operation) {
        case 'GetTable': {
          const table = tables.get(key(input.Name ?? ''));
          if (!table) answer(400, { __type: 'EntityNotFoundException', message: `Table ${input.Name} not found.` });
          else answer(200, { Table: { ...table.TableInput, DatabaseName: table.DatabaseName, VersionId: table.VersionId } });
          return;
        }
        case 'CreateTable': {
          const name = input.TableInput!.Name;
          if (tables.has(key(name))) answer(400, { __type: 'AlreadyExistsException', message: `Table ${name} already exists.` });
          else {
            tables.set(key(name), { DatabaseName: input.DatabaseName!, VersionId: '1', TableInput: input.TableInput! });
            answer(200, {});
          }
          return;
        }
        case 'UpdateTable': {
          const name = input.TableInput!.Name;
          const current = tables.get(key(name));
          if (!current) answer(400, { __type: 'EntityNotFoundException', message: `Table ${name} not found.` });
          else if (input.VersionId !== undefined && input.VersionId !== current.VersionId) {
            answer(400, { __type: 'ConcurrentModificationException', message: 'Update table failed due to concurrent modifications.' });
          } else {
            tables.set(key(name), { DatabaseName: input.DatabaseName!, VersionId: String(Number(current.VersionId) + 1), TableInput: input.TableInput! });
            answer(200, {});
          }
          return;
        }
        default:
          answer(400, { __type: 'InvalidInputException', message: `the stand-in does not serve ${operation}` });
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, tables, calls, stop: () => new Promise<void>((ok) => server.close(() => ok())) };
}
