/**
 * The `pgsip` command line. Every failure ends as one line on stderr naming what failed, and a non-zero exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { runDemo } from './commands/demo';
import { printSummary, runExport } from './commands/run';

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

const program = new Command('pgsip')
  .description('Export PostgreSQL tables to Parquet, locally or on S3, through the state machine pgsip deploys to AWS.')
  .version('0.1.0')
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
    await runDemo(options, out, err);
  });

program
  .command('run')
  .description('Export tables from a Postgres database to a folder or an S3 prefix.')
  .addOption(new Option('--database-url <url>', 'postgres://user:password@host:port/database').env('DATABASE_URL'))
  .requiredOption('--tables <list>', 'comma-separated tables, Postgres quoting: public.orders,public."Weird Table"')
  .requiredOption('--dest <dir|s3://bucket/prefix>', 'where the run is written')
  .option('--shards <n|auto>', 'shards per table; auto sizes them from the table', 'auto')
  .option('--concurrency <n>', 'shards exported at once: the connection budget', '4')
  .option('--run-id <id>', 'name of the run (default: UTC time plus a random suffix)')
  .option('--s3-endpoint <url>', 'an S3-compatible endpoint for s3:// destinations')
  .addOption(new Option('--compression <codec>', 'Parquet compression').choices(['snappy', 'zstd', 'uncompressed']).default('snappy'))
  .option('--quiet', 'no progress lines')
  .action(async (options) => {
    const summary = await runExport(options, err);
    printSummary(summary, out);
  });

let code = 0;
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; usage errors were already printed by commander.
    code = error.exitCode === 0 ? 0 : 2;
  } else {
    const e = error as Error;
    const message = (e?.message ?? String(error)).split('\n')[0];
    err(`pgsip: ${message}`);
    if (process.env.PGSIP_DEBUG) err(String(e?.stack));
    code = 1;
  }
}
// Exit explicitly: a failed run may leave shards of other tables, sockets or timers behind that would keep
// the process alive, and the exit code is the contract.
process.exit(code);
