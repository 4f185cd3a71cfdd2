/**
 * The package's entry point (`import { PgsipExport } from 'pgsip'`): the construct with its props and the
 * types they use, the deployable stack and the config file reader for apps that keep pgsip's JSON config.
 */
export { PgsipExport, DEFAULT_CONNECTION_BUDGET, DEFAULT_EXPORT_PREFIX } from './pgsip-export';
export type { PgsipExportProps } from './pgsip-export-props';
export { PgsipStack, propsFromConfig, type PgsipStackProps } from './pgsip-stack';
export { loadConfig, validateConfig, type PgsipConfig, type ScheduleConfig } from './pgsip-config';
export { PgsipFunction, type PgsipFunctionKind, LAMBDA_RUNTIME } from './pgsip-function';
export { PgsipMonitoring } from './pgsip-monitoring';
export { ExportStateMachine } from './export-state-machine';
export { PGSIP_VERSION } from './package-root';
export type { ExecutionInput, IncrementalSpec, TypeProfile, InfinityPolicy, Compression, RunManifest, LatestPointer } from '../lambdas/engine/contracts';
