#!/usr/bin/env node
// waypoint entry point: configuration from the environment, start, drain on SIGTERM/SIGINT.
import { Waypoint } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`waypoint: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const w = await Waypoint.start(config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    w.logger.info({ signal }, 'shutting down');
    void w.drain().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: Error) => {
  console.error(`waypoint: failed to start: ${err.message}`);
  process.exit(1);
});
