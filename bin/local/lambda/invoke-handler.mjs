// Runs one invocation of a bundled Lambda handler in this process, as the Lambda Node runtime does: import
// the bundle, call its handler with the event and a context, write the outcome, exit. Plain JavaScript, so
// that the runtime's Node runs it without any loader. Used by lambda-process.ts:
//   node invoke-handler.mjs <bundle.mjs> <export name> <event.json> <outcome.json>
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [bundle, exportName, eventFile, outcomeFile] = process.argv.slice(2);
const started = Date.now();
const deadline = started + Number(process.env.PGSIP_INVOKE_TIMEOUT_MS ?? 900_000);
const context = {
  awsRequestId: `local-${process.pid}-${started}`,
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'pgsip-local',
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'pgsip-local'}`,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '1769',
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
let outcome;
try {
  const module = await import(pathToFileURL(bundle).href);
  const result = await module[exportName](JSON.parse(readFileSync(eventFile, 'utf8')), context);
  outcome = { ok: true, result };
} catch (error) {
  // What Lambda reports to Step Functions: the error's name (matched by Retry) and message.
  outcome = { ok: false, errorType: error?.name ?? 'Error', errorMessage: String(error?.message ?? error) };
}
writeFileSync(outcomeFile, JSON.stringify(outcome));
process.exit(0);
