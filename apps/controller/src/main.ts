#!/usr/bin/env node
// The controller's entry point: configuration from the environment, start, stop on signals.
import { ConfigError, type ControllerConfig, loadConfig } from './config.js';
import { Controller } from './server.js';

async function main(): Promise<void> {
  let config: ControllerConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`controller: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const c = new Controller(config);
  await c.start();
  const stop = () => void c.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: Error) => {
  console.error(`controller: failed to start: ${err.message}`);
  process.exit(1);
});
