#!/usr/bin/env node
// ambientctl — inspect the mesh and run the demo.
import { Command, InvalidArgumentError } from 'commander';
import { analyze } from './commands/analyze.js';
import { namespaceMode, waypointApply, waypointDelete, waypointList } from './commands/cluster.js';
import { proxyStatus, ztunnelConfig } from './commands/inspect.js';
import { tokenCreate } from './commands/token.js';
import { runDemo } from './demo/demo.js';
import { install } from './install/install.js';
import type { Format } from './output.js';

const program = new Command('ambientctl')
  .description('ambient mesh: inspect proxies, run the demo')
  .version('0.1.0');
const format = (v: string): Format => {
  if (v === 'table' || v === 'json' || v === 'yaml') return v;
  throw new InvalidArgumentError('use table, json or yaml');
};

program
  .command('ztunnel-config <kind>')
  .description("a ztunnel's configuration: workloads | services | policies | certificates | all")
  .option('--admin <host:port>', 'the ztunnel admin address', '127.0.0.1:15000')
  .option('--netns <name>', 'reach it from inside this network namespace (e.g. a lab node)')
  .option('-o, --output <format>', 'table, json or yaml', format, 'table' as Format)
  .action((kind: string, o: { admin: string; netns?: string; output: Format }) => ztunnelConfig(kind, o));

program
  .command('proxy-status')
  .description('every proxy connected to the controller, and whether it is in sync')
  .option('--controller <host:port>', 'the controller debug address', '127.0.0.1:15014')
  .option('--netns <name>', 'reach it from inside this network namespace')
  .option('-o, --output <format>', 'table, json or yaml', format, 'table' as Format)
  .action((o: { controller: string; netns?: string; output: Format }) => proxyStatus(o));

program
  .command('analyze')
  .description(
    'check configuration as the controller would: load errors, translation warnings, common mistakes',
  )
  .option(
    '-f, --file <path...>',
    'files or directories of Kubernetes YAML (default: the current cluster via kubectl)',
    [],
  )
  .option('-o, --output <format>', 'table, json or yaml', format, 'table' as Format)
  .action((o: { file: string[]; output: Format }) => {
    process.exitCode = analyze({ files: o.file, output: o.output });
  });

program
  .command('install')
  .description('install the controller and ztunnel on the current cluster (kubectl), or print the manifests')
  .option('--dry-run', 'print the rendered manifests instead of applying them')
  .action((o: { dryRun?: boolean }) => {
    process.exitCode = install({ dryRun: o.dryRun === true });
  });

program
  .command('uninstall')
  .description('remove what install created')
  .action(() => {
    process.exitCode = install({ dryRun: false, uninstall: true });
  });

const namespace = program
  .command('namespace')
  .description('enrol a namespace in the mesh (label istio.io/dataplane-mode=ambient) or remove it');
for (const [verb, enable] of [
  ['enable', true],
  ['disable', false],
] as const) {
  namespace
    .command(`${verb} <ns>`)
    .option('--dry-run', 'print the kubectl command instead of running it')
    .option(
      '--config-dir <dir>',
      "the controller's directory of Kubernetes YAML (files mode) instead of kubectl",
    )
    .action((ns: string, o: { dryRun?: boolean; configDir?: string }) => {
      process.exitCode = namespaceMode(ns, enable, o.dryRun === true, o.configDir);
    });
}

const waypoint = program
  .command('waypoint')
  .description('deploy, list and delete waypoints (the Gateway istioctl creates)');
waypoint
  .command('apply')
  .requiredOption('-n, --namespace <ns>', 'namespace of the waypoint')
  .option('--name <name>', 'waypoint name', 'waypoint')
  .option('--for <type>', 'traffic type: service, workload, all or none')
  .option('--enroll-namespace', 'label the namespace istio.io/use-waypoint=<name>')
  .option('--dry-run', 'print the Gateway instead of applying it')
  .option(
    '--config-dir <dir>',
    "the controller's directory of Kubernetes YAML (files mode) instead of kubectl",
  )
  .action(
    (o: {
      namespace: string;
      name: string;
      for?: string;
      enrollNamespace?: boolean;
      dryRun?: boolean;
      configDir?: string;
    }) => {
      process.exitCode = waypointApply({
        ...o,
        enrollNamespace: o.enrollNamespace === true,
        dryRun: o.dryRun === true,
      });
    },
  );
waypoint
  .command('list')
  .option('-n, --namespace <ns>', 'namespace (default: all)')
  .option(
    '--config-dir <dir>',
    "the controller's directory of Kubernetes YAML (files mode) instead of kubectl",
  )
  .action((o: { namespace?: string; configDir?: string }) => {
    process.exitCode = waypointList(o.namespace, o.configDir);
  });
waypoint
  .command('delete <name>')
  .requiredOption('-n, --namespace <ns>', 'namespace of the waypoint')
  .option(
    '--config-dir <dir>',
    "the controller's directory of Kubernetes YAML (files mode) instead of kubectl",
  )
  .action((name: string, o: { namespace: string; configDir?: string }) => {
    process.exitCode = waypointDelete(o.namespace, name, o.configDir);
  });

program
  .command('token')
  .description('credentials for proxies of the files-mode controller')
  .command('create')
  .description(
    "mint a bearer token for a service account (a ztunnel: ambient-system/ztunnel with --node), signed with the controller's key",
  )
  .requiredOption(
    '--ca-dir <dir>',
    "the controller's CA directory (AMBIENT_CA_DIR); the key is token-signing-key.pem there",
  )
  .option('--key <file>', 'the signing key, when the controller runs with AMBIENT_TOKEN_KEY')
  .requiredOption(
    '--service-account <ns/name>',
    'who the token is for, e.g. ambient-system/ztunnel or bookinfo/waypoint',
  )
  .option('--node <name>', "a node agent's node: the CA issues it only identities of pods on that node")
  .option(
    '--duration <d>',
    'how long the token is valid (proxies re-read AUTH_TOKEN files on every use)',
    '24h',
  )
  .option('--out <file>', 'write the token to this file (mode 0600) instead of standard output')
  .action(
    async (o: {
      caDir: string;
      key?: string;
      serviceAccount: string;
      node?: string;
      duration: string;
      out?: string;
    }) => {
      process.exitCode = await tokenCreate({
        caDir: o.caDir,
        serviceAccount: o.serviceAccount,
        duration: o.duration,
        ...(o.key ? { keyFile: o.key } : {}),
        ...(o.node ? { node: o.node } : {}),
        ...(o.out ? { outFile: o.out } : {}),
      });
    },
  );

program
  .command('demo')
  .description('the demo mesh on an in-box cluster of network namespaces (root)')
  .option('--once', 'print the report, remove everything and exit')
  .action(async (o: { once?: boolean }) => {
    process.exitCode = await runDemo({ once: o.once === true });
  });

program.parseAsync().catch((err: Error) => {
  console.error(`ambientctl: ${err.message}`);
  process.exit(1);
});
