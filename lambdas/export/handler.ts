// Placeholder until the engine lands (same session); the CDK app only needs the entry file to exist.
export const handler = async (event: unknown): Promise<unknown> => event;
