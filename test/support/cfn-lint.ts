/**
 * cfn-lint, AWS's own CloudFormation linter (Python; preinstalled on our machines, `pip install cfn-lint`
 * elsewhere), over synthesized templates: its JSON findings, parsed. The checks are AWS's resource schemas and
 * rules, not our understanding of them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CfnLintFinding {
  template: string;
  rule: string;
  level: 'Error' | 'Warning' | 'Informational';
  path: string;
  message: string;
}

interface RawFinding {
  Filename: string;
  Level: CfnLintFinding['level'];
  Message: string;
  Rule: { Id: string };
  Location: { Path: (string | number)[] | null };
}

/** Lints each template (by name) in one cfn-lint process; the region is the one the templates are checked for. */
export function cfnLint(templates: Record<string, object>, regions = ['eu-west-1', 'us-east-1']): CfnLintFinding[] {
  const dir = mkdtempSync(join(tmpdir(), 'pgsip-cfn-lint-'));
  try {
    const files = Object.entries(templates).map(([name, template]) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(template));
      return file;
    });
    let out: string;
    try {
      out = execFileSync('cfn-lint', ['--format', 'json', '--regions', ...regions, '--', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stdout?: string; status?: number };
      if (e.code === 'ENOENT') throw new Error('cfn-lint is not installed: pip install cfn-lint');
      // cfn-lint exits non-zero when it finds something (2 errors, 4 warnings, 8 informational; summed).
      if (typeof e.stdout !== 'string' || e.stdout === '') throw error;
      out = e.stdout;
    }
    return (JSON.parse(out) as RawFinding[]).map((f) => ({
      template: f.Filename.slice(dir.length + 1).replace(/\.json$/, ''),
      rule: f.Rule.Id,
      level: f.Level,
      path: (f.Location.Path ?? []).join('/'),
      message: f.Message,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
