#!/usr/bin/env node
// ztunnel entry point: configuration from the environment, start, drain on SIGTERM/SIGINT.
import { runMain } from '@ambient/telemetry';
import { Ztunnel } from './app.js';
import { loadConfig } from './config.js';

runMain(
  'ztunnel',
  () => loadConfig(),
  async (config) => {
    const z = await Ztunnel.start(config, { onQuit: () => process.exit(0) });
    return (signal) => {
      z.logger.info({ signal }, 'shutting down');
      return z.drain();
    };
  },
);
