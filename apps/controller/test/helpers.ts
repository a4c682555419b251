// A files-mode controller on loopback for tests: a temp directory with the given cluster YAML,
// TLS xDS + CA on an ephemeral port, debug on loopback; `stop` removes everything.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { Controller } from '../src/server.js';

export interface TestController {
  controller: Controller;
  dir: string;
  configDir: string;
  caDir: string;
  stop(): Promise<void>;
}

export async function startTestController(
  clusterYaml: string,
  env: Record<string, string> = {},
): Promise<TestController> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ctl-test-'));
  const configDir = path.join(dir, 'config');
  const caDir = path.join(dir, 'ca');
  mkdirSync(configDir);
  writeFileSync(path.join(configDir, 'cluster.yaml'), clusterYaml);
  const controller = new Controller(
    loadConfig({
      AMBIENT_CONFIG_DIR: configDir,
      AMBIENT_CA_DIR: caDir,
      AMBIENT_XDS_PLAINTEXT_ADDR: '',
      AMBIENT_XDS_TLS_ADDR: '127.0.0.1:0',
      AMBIENT_DEBUG_ADDR: '127.0.0.1:0',
      LOG_LEVEL: 'silent',
      ...env,
    }),
  );
  await controller.start();
  return {
    controller,
    dir,
    configDir,
    caDir,
    stop: async () => {
      await controller.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
