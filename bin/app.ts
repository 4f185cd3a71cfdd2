#!/usr/bin/env node
/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy`). Settings come from context; see `propsFromContext`.
 * Environment-agnostic on purpose: no account or region lookups, so it synthesizes without credentials.
 */
import { App } from 'aws-cdk-lib';
import { buildApp, propsFromContext } from '../lib/pgsip-app';

const app = new App();
buildApp(app, propsFromContext(app.node));
app.synth();
