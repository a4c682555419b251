#!/usr/bin/env node
// The controller's entry point: configuration from the environment, start, stop on signals.
import { runMain } from '@ambient/telemetry';
import { loadConfig } from './config.js';
import { Controller } from './server.js';

runMain(
  'controller',
  () => loadConfig(),
  async (config) => {
    const c = new Controller(config);
    await c.start();
    return () => c.stop();
  },
);
