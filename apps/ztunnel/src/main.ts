#!/usr/bin/env node
// ztunnel entry point: configuration from the environment, start, drain on SIGTERM/SIGINT.
import { Ztunnel } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`ztunnel: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const z = await Ztunnel.start(config, { onQuit: () => process.exit(0) });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    z.logger.info({ signal }, 'shutting down');
    void z.drain().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: Error) => {
  console.error(`ztunnel: failed to start: ${err.message}`);
  process.exit(1);
});
