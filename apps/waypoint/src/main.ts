#!/usr/bin/env node
// waypoint entry point: configuration from the environment, start, drain on SIGTERM/SIGINT.
import { runMain } from '@ambient/telemetry';
import { Waypoint } from './app.js';
import { loadConfig } from './config.js';

runMain(
  'waypoint',
  () => loadConfig(),
  async (config) => {
    const w = await Waypoint.start(config);
    return (signal) => {
      w.logger.info({ signal }, 'shutting down');
      return w.drain();
    };
  },
);
