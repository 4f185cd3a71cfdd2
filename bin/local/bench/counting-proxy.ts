/**
 * A TCP relay in front of Postgres that counts the bytes the server sends: what a run reads from Postgres, for
 * the incremental row of `pgsip bench` (incremental-run.ts). Listens on 127.0.0.1 only.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface CountingProxy {
  /** The database URL, pointed at the relay. */
  url: string;
  /** Bytes the server has sent through the relay so far. */
  readonly bytesFromServer: number;
  close(): Promise<void>;
}

export async function countingProxy(databaseUrl: string): Promise<CountingProxy> {
  const target = new URL(databaseUrl);
  const host = target.hostname || '127.0.0.1';
  const port = Number(target.port || 5432);
  let bytesFromServer = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk: Buffer) => {
      bytesFromServer += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the counting relay has no port');
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  // A Unix-socket host given as a query parameter would bypass the relay.
  url.searchParams.delete('host');
  return {
    url: url.href,
    get bytesFromServer() {
      return bytesFromServer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
