/** The one Powertools logger of a function: JSON lines, keyed per invocation by `observe` (observability.ts). */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'pgsip' });
