#!/usr/bin/env node
/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy`). Settings come from a config file and context; see
 * `propsFromContext` (`-c config=pgsip.config.json`). Environment-agnostic on purpose: no account or region
 * lookups, so it synthesizes without credentials.
 *
 * cdk-nag's AwsSolutionsChecks run on every synth: an unacknowledged finding fails it. (cdk-nag 3's
 * `Validations.of(app).addPlugins(...)` needs a CDK core that hands plugins the construct tree, which
 * aws-cdk-lib 2.276 does not, so the pack is run directly with `validateScope`.) `-c nag=off` skips it.
 * Any error is one line naming the culprit, e.g. `pgsip: config network.subnetIds[0]: must look like ...`.
 */
import { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp, propsFromContext } from '../lib/pgsip-app';

try {
  const app = new App();
  buildApp(app, propsFromContext(app.node));
  // Synthesize first: the IAM5 acknowledgements are decided on the final policies, at synth time.
  app.synth();
  if (app.node.tryGetContext('nag') !== 'off') {
    const report = new AwsSolutionsChecks().validateScope(app);
    if (report.violations.length > 0) {
      for (const v of report.violations) {
        process.stderr.write(`cdk-nag ${v.ruleName}: ${v.description} (${v.violatingResources.map((r) => r.constructPath).join(', ')})\n`);
      }
      throw new Error(`${report.violations.length} unacknowledged cdk-nag finding(s); fix them or acknowledge each in lib/pgsip-nag.ts`);
    }
  }
} catch (error) {
  process.stderr.write(`pgsip: ${((error as Error).message ?? String(error)).split('\n')[0]}\n`);
  process.exit(1);
}
