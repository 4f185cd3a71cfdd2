import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_ITEMS_FIELD, serveItemReaders } from '../../bin/local/item-readers';
import { LocalFolderDestination } from '../../lambdas/engine/destinations/local-folder';
import { REPO_ROOT } from '../../lib/pgsip-function';
import {
  definitionFromTemplate,
  placeholderFunctionArn,
  synthesizeDefinition,
} from '../../lib/state-machine-definition';
import { allStates } from '../support/definition-states';

const run = promisify(execFile);

function templateWith(definitionString: unknown, extra: Record<string, unknown> = {}) {
  return {
    Resources: {
      Fn1: { Type: 'AWS::Lambda::Function', Properties: {} },
      Queue: { Type: 'AWS::SQS::Queue', Properties: {} },
      Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: definitionString } },
      ...extra,
    },
  };
}

describe('definitionFromTemplate', () => {
  it('resolves Fn::Join, Lambda Fn::GetAtt Arn and pseudo parameters to deterministic placeholders', () => {
    const template = templateWith({
      'Fn::Join': [
        '',
        [
          '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:',
          { Ref: 'AWS::Partition' },
          ':states:::lambda:invoke","Parameters":{"FunctionName":"',
          { 'Fn::GetAtt': ['Fn1', 'Arn'] },
          '","Payload.$":"$"},"Comment":"',
          { Ref: 'AWS::Region' },
          '/',
          { Ref: 'AWS::AccountId' },
          '","Next":"M"},"M":{"Type":"Map","ItemProcessor":{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"',
          { 'Fn::GetAtt': 'Fn1.Arn' },
          '","End":true}}},"End":true}}}',
        ],
      ],
    });
    const { definition, taskFunctions } = definitionFromTemplate(template);
    expect(definition).toEqual({
      StartAt: 'A',
      States: {
        A: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: 'arn:aws:lambda:local:000000000000:function:Fn1', 'Payload.$': '$' },
          Comment: 'local/000000000000',
          Next: 'M',
        },
        M: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'B',
            States: { B: { Type: 'Task', Resource: placeholderFunctionArn('Fn1'), End: true } },
          },
          End: true,
        },
      },
    });
    expect(taskFunctions).toEqual({ A: 'Fn1', B: 'Fn1' });
  });

  it('accepts a plain string definition', () => {
    const asl = { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } };
    expect(definitionFromTemplate(templateWith(JSON.stringify(asl)))).toEqual({ definition: asl, taskFunctions: {} });
  });

  it('refuses intrinsics it cannot stand in for, naming them', () => {
    const join = (part: unknown) => templateWith({ 'Fn::Join': ['', ['{"x":"', part, '"}']] });
    expect(() => definitionFromTemplate(join({ Ref: 'Queue' }))).toThrow(/Ref "Queue"/);
    expect(() => definitionFromTemplate(join({ Ref: 'AWS::StackName' }))).toThrow(/Ref "AWS::StackName"/);
    expect(() => definitionFromTemplate(join({ 'Fn::GetAtt': ['Queue', 'Arn'] }))).toThrow(/Fn::GetAtt \["Queue","Arn"\]/);
    expect(() => definitionFromTemplate(join({ 'Fn::GetAtt': ['Fn1', 'FunctionUrl'] }))).toThrow(/Fn::GetAtt/);
    expect(() => definitionFromTemplate(join({ 'Fn::ImportValue': 'Other' }))).toThrow(/Fn::ImportValue/);
    expect(() => definitionFromTemplate(join({ 'Fn::Sub': 'arn:${AWS::Partition}' }))).toThrow(/Fn::Sub/);
  });

  it('wants exactly one state machine', () => {
    expect(() => definitionFromTemplate({ Resources: {} })).toThrow(/exactly one .* found 0/);
    const two = templateWith('{}', { Other: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: '{}' } } });
    expect(() => definitionFromTemplate(two)).toThrow(/found 2 \(Machine, Other\)/);
  });
});


const EXECUTION_ID = 'arn:aws:states:local:000000000000:execution:pgsip:exec-1';

/**
 * Runs the synthesized definition in aws-local-stepfunctions with stand-in handlers (each records its payload),
 * the ItemReader served from a destination holding two shard tasks. `commit` and `releaseAfterFailure`
 * replace those handlers.
 */
async function runStandIns(overrides: { commit?: () => Promise<unknown>; releaseAfterFailure?: () => Promise<unknown> } = {}) {
  const { definition } = synthesizeDefinition({});
  const folder = mkdtempSync(join(tmpdir(), 'pgsip-items-'));
  try {
    const destination = new LocalFolderDestination(folder);
    const shards = [0, 1].map((shard) => ({ runId: 'r1', table: 'public.t', runDir: 'public/t/run=r1', shard, shardCount: 2, range: { lo: null, hi: null } }));
    await destination.put('_runs/r1/_shards.json', JSON.stringify(shards));
    const plan = { runId: 'r1', tableCount: 1, shardCount: 2, items: destination.address('_runs/r1/_shards.json'), concurrency: 2, snapshot: 'SNAP-1', heldSnapshot: 'exec-1' };
    const { interpreted, afterTask } = serveItemReaders(definition, destination);
    // The interpreter adds its defaults (QueryLanguage) to the definition it is given: keep what it was given.
    const given = structuredClone(interpreted);
    const machine = new StateMachine(interpreted as any);
    const calls: [string, any][] = [];
    let throttled = false;
    const execution = machine.run(
      { tables: ['public.t'] },
      {
        context: { Execution: { Name: 'exec-1', Id: EXECUTION_ID } } as any,
        overrides: {
          // The retry list is part of what runs locally: a throttled shard is retried, not failed.
          retryIntervalOverrides: { ExportShard: 0 },
          taskResourceLocalHandlers: {
            Plan: async (input: any) => (calls.push(['Plan', input]), { Payload: (await afterTask.Plan(plan)) as any }),
            ExportShard: async (input: any) => {
              calls.push(['ExportShard', input]);
              if (!throttled) {
                throttled = true;
                throw Object.assign(new Error('Rate exceeded'), { name: 'Lambda.TooManyRequestsException' });
              }
              return { Payload: { shard: input.Payload.task.shard, rows: 1 } };
            },
            Commit: async (input: any) => {
              calls.push(['Commit', input]);
              return { Payload: (await (overrides.commit?.() ?? Promise.resolve({ runId: 'r1', tables: [] }))) as any };
            },
            // Generation 0 hands over to 2 (its successor in the loop), which ends the loop; 1 ends at once.
            Hold: async (input: any) => {
              calls.push(['Hold', input]);
              const { generation } = input.Payload;
              const answer = generation === 0 ? { action: 'hold', done: false, generation: 2, input: input.Payload.input } : { action: 'hold', done: true, generation };
              return { Payload: answer as any };
            },
            Release: async (input: any) => (calls.push(['Release', input]), { Payload: { released: true } }),
            ReleaseAfterFailure: async (input: any) => {
              calls.push(['ReleaseAfterFailure', input]);
              return { Payload: (await (overrides.releaseAfterFailure?.() ?? Promise.resolve({ released: true }))) as any };
            },
            // What the failure function answers when there is nothing to add: the caught error as it was.
            DescribeFailure: async (input: any) => (calls.push(['DescribeFailure', input]), { Payload: input.Payload.caught }),
          },
        },
      },
    );
    const result = await execution.result.then(
      (value) => ({ value }),
      (error: unknown) => ({ error: error as Error & { cause?: any } }),
    );
    const payloads = (name: string) => calls.filter(([n]) => n === name).map(([, i]) => i.Payload);
    return { definition, interpreted: given, shards, result, calls, payloads };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

describe('synthesizeDefinition', () => {
  it('synthesizes the app in process: Run [Plan -> ExportShards(ExportShard) -> Commit -> Release | Holders -> HoldSnapshot(Hold)]', () => {
    const { definition, taskFunctions } = synthesizeDefinition({ concurrency: 3 });
    expect(definition.StartAt).toBe('Run');
    // Run options (concurrency included) travel in the input: the definition is the same for every budget.
    expect(definition).toEqual(synthesizeDefinition({ concurrency: 9 }).definition);
    expect(allStates(definition).ExportShards.MaxConcurrencyPath).toBe('$.concurrency');
    expect(Object.keys(taskFunctions).sort()).toEqual(['Commit', 'DescribeFailure', 'ExportShard', 'Hold', 'Plan', 'Release', 'ReleaseAfterFailure']);
    expect(taskFunctions.DescribeFailure).toMatch(/^FailureFunction/);
    expect(taskFunctions.Plan).toMatch(/^PlanFunction/);
    expect(taskFunctions.ExportShard).toMatch(/^ExportFunction/);
    expect(taskFunctions.Commit).toMatch(/^CommitFunction/);
    // One holder function serves every holder Task.
    expect(taskFunctions.Hold).toMatch(/^HolderFunction/);
    expect(taskFunctions.Release).toBe(taskFunctions.Hold);
    expect(taskFunctions.ReleaseAfterFailure).toBe(taskFunctions.Hold);
  });

  it('runs in aws-local-stepfunctions, its ItemReader served from the destination, handing each task the payload the handlers expect', async () => {
    const { definition, interpreted, shards, result, calls, payloads } = await runStandIns();
    // The one difference the interpreter sees: where the served items are.
    const served = allStates(interpreted).ExportShards;
    expect(served.ItemsPath).toBe(`$.${LOCAL_ITEMS_FIELD}`);
    expect({ ...served, ItemsPath: undefined }).toEqual({ ...allStates(definition).ExportShards, ItemsPath: undefined });
    // The run's result is Commit's: Release passes it on, Run takes the export branch's.
    expect(result).toEqual({ value: { runId: 'r1', tables: [] } });
    const executionId = EXECUTION_ID;
    expect(payloads('Plan')).toEqual([{ input: { tables: ['public.t'] }, executionName: 'exec-1', executionId }]);
    expect(payloads('ExportShard')).toHaveLength(3);
    expect(payloads('ExportShard').map((p) => p.task.shard).sort()).toEqual([0, 0, 1]);
    // Each shard task arrives whole, as the file holds it, with the parent execution's id, the snapshot and
    // the execution whose holders hold it.
    expect(payloads('ExportShard')).toContainEqual({ task: shards[1], executionId, snapshot: 'SNAP-1', heldSnapshot: 'exec-1' });
    expect(payloads('Commit')).toEqual([{ runId: 'r1', executionId }]);
    // Both holder loops get the execution input; generation 0's answer (its successor, 2) is held next.
    const hold = (generation: number) => ({ action: 'hold', generation, input: { tables: ['public.t'] }, executionName: 'exec-1', executionId });
    expect(payloads('Hold').sort((a, b) => a.generation - b.generation)).toEqual([hold(0), hold(1), hold(2)]);
    // Released once, after Commit; nothing failed, so no ReleaseAfterFailure.
    expect(payloads('Release')).toEqual([{ action: 'release', executionName: 'exec-1' }]);
    expect(calls.findIndex(([n]) => n === 'Release')).toBeGreaterThan(calls.findIndex(([n]) => n === 'Commit'));
    expect(payloads('ReleaseAfterFailure')).toEqual([]);
  });

  it('on a failure, releases the snapshot (ReleaseAfterFailure) and fails with the error that ended the run, even when that release fails', async () => {
    const failure = () => Promise.reject(Object.assign(new Error('table "public"."t": 2 rows expected, 1 exported'), { name: 'CountMismatchError' }));
    for (const releaseAfterFailure of [undefined, () => Promise.reject(Object.assign(new Error('bucket gone'), { name: 'CannotWriteError' }))]) {
      const { result, payloads } = await runStandIns({ commit: failure, releaseAfterFailure });
      expect(payloads('Commit')).toHaveLength(1);
      expect(payloads('Release')).toEqual([]);
      expect(payloads('ReleaseAfterFailure')).toEqual([{ action: 'release', executionName: 'exec-1' }]);
      // DescribeFailure is handed the caught error whole, and the execution's id.
      expect(payloads('DescribeFailure')).toEqual([
        { caught: { Error: 'CountMismatchError', Cause: expect.stringContaining('2 rows expected, 1 exported') }, executionId: EXECUTION_ID },
      ]);
      expect('error' in result && result.error.cause).toMatchObject({
        name: 'CountMismatchError',
        message: 'table "public"."t": 2 rows expected, 1 exported',
      });
      // Ended by RunFailed (a Fail state naming the caught error), not by the task's error escaping the run.
      expect('error' in result && result.error.cause?.constructor.name).toBe('FailStateError');
    }
  });

  it('the served ItemReader reads the object its Parameters name, and refuses one outside the destination', async () => {
    const { definition } = synthesizeDefinition({});
    const folder = mkdtempSync(join(tmpdir(), 'pgsip-items-'));
    const destination = new LocalFolderDestination(folder);
    const { afterTask } = serveItemReaders(definition, destination);
    await expect(afterTask.Plan({ items: { bucket: 'file', key: join(folder, 'missing.json') } })).rejects.toThrow(/no object at .*missing\.json/);
    await expect(afterTask.Plan({ items: { bucket: 'my-bucket', key: 'x.json' } })).rejects.toThrow(/my-bucket\/x\.json is not in/);
    await expect(afterTask.Plan({ nothing: true })).rejects.toThrow(/\$\.items\.bucket is not in the Map's input/);
    rmSync(folder, { recursive: true, force: true });
  });
});

// The acceptance test on the CDK side of "the local runner ran exactly the synthesized definition": the real
// CDK CLI synthesizes bin/app.ts with real esbuild bundling, and its definition equals the in-process one.
describe('npx cdk synth (real bundling, no AWS credentials)', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'pgsip-cdk-synth-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('bundles every function and synthesizes the same definition as synthesizeDefinition', { timeout: 240_000 }, async () => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith('AWS_') && !k.startsWith('CDK_')) env[k] = v;
    }
    Object.assign(env, { CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' });
    const args = ['cdk', 'synth', '--quiet', '--no-notices', '-o', outdir, '-c', 'concurrency=7', '-c', 'exportPrefix=lake/pg'];
    try {
      await run('npx', args, { cwd: REPO_ROOT, env, timeout: 230_000, maxBuffer: 16 * 1024 * 1024 });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`npx ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    }

    const template = JSON.parse(readFileSync(join(outdir, 'Pgsip.template.json'), 'utf8'));
    const functions = Object.entries<any>(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(5);
    for (const [id, fn] of functions) {
      const assetDir = join(outdir, fn.Metadata['aws:asset:path']);
      expect(existsSync(join(assetDir, 'index.mjs')), `${id}: ${assetDir}/index.mjs`).toBe(true);
      expect(existsSync(join(assetDir, 'index.mjs.map')), `${id}: source map`).toBe(true);
      const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      expect(bundle.startsWith('import { createRequire'), `${id}: require banner`).toBe(true);
    }

    // Minification must not rename the error the ASL retries on (keepNames): Step Functions matches its name.
    const exportFn = functions.find(([id]) => id.startsWith('ExportFunction'))!;
    const exportBundle = readFileSync(join(outdir, exportFn[1].Metadata['aws:asset:path'], 'index.mjs'), 'utf8');
    expect(exportBundle).toContain('"ShardRetryableError"');

    const fromCli = definitionFromTemplate(template);
    expect(fromCli).toEqual(synthesizeDefinition({ concurrency: 7, exportPrefix: 'lake/pg' }));
    const plan = functions.find(([id]) => id.startsWith('PlanFunction'))!;
    expect(plan[1].Properties.Environment.Variables.PGSIP_CONNECTION_BUDGET).toBe('7');
  });
});
