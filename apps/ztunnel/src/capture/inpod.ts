// In-pod capture — shared spec ztunnel.md §5.1, capture-from-node.md §3. For each local
// workload with a network namespace, ztunnel (running in the node's namespace):
//   1. installs the capture rules inside the pod's namespace (idempotent);
//   2. opens 15001 (outbound), 15006 (inbound plaintext) and 15008 (inbound HBONE) inside it;
//   3. creates every socket it needs for the pod inside it, marked 0x539 so the rules skip
//      them: HBONE and passthrough dials leave with the pod's own IP; connections to the app
//      come from the client's IP (IP_TRANSPARENT), or from the pod's IP if the kernel
//      refuses — said once in the log.
// When the workload goes away, its listeners close and its rules are removed.
import net from 'node:net';
import type { HboneServer } from '@ambient/hbone';
import {
  connectInNetns,
  installPodRules,
  listenSocket,
  originalDst,
  removePodRules,
  ZTUNNEL_MARK,
} from '@ambient/netsys';
import type { Logger } from '@ambient/telemetry';
import type { SocketFactory } from '../proxy/sockets.js';
import type { Workload } from '../state/types.js';

export const OUTBOUND_PORT = 15001;
export const INBOUND_PLAINTEXT_PORT = 15006;
export const HBONE_PORT = 15008;

export class InPodSockets implements SocketFactory {
  private transparentWorks = true;

  constructor(private readonly logger: Logger) {}

  private netnsOf(w: Workload | undefined): string {
    if (!w?.netns)
      throw new Error(
        `workload ${w?.uid ?? '(unknown)'} has no network namespace: cannot create its sockets`,
      );
    return w.netns;
  }

  dialHbone(source: Workload, _srcIp: string, dstIp: string, dstPort: number): net.Socket {
    return connectInNetns({ netns: this.netnsOf(source), host: dstIp, port: dstPort, mark: ZTUNNEL_MARK });
  }

  dialPassthrough(source: Workload, _srcIp: string, dstIp: string, dstPort: number): net.Socket {
    return connectInNetns({ netns: this.netnsOf(source), host: dstIp, port: dstPort, mark: ZTUNNEL_MARK });
  }

  connectApp(destination: Workload, dstIp: string, dstPort: number, clientIp: string): net.Socket {
    const netns = this.netnsOf(destination);
    const base = { netns, host: dstIp, port: dstPort, mark: ZTUNNEL_MARK };
    if (this.transparentWorks && clientIp && clientIp !== dstIp) {
      try {
        return connectInNetns({ ...base, transparent: true, bindIp: clientIp });
      } catch (err) {
        this.transparentWorks = false;
        this.logger.warn(
          { error: (err as Error).message },
          'cannot keep client source IPs (IP_TRANSPARENT refused); apps will see the pod address instead — grant CAP_NET_ADMIN',
        );
      }
    }
    return connectInNetns(base);
  }
}

export interface PodListeners {
  outbound: net.Server;
  plaintext: net.Server;
  hbone: HboneServer;
}

export interface InPodHandlers {
  outbound(sock: net.Socket, dst: { ip: string; port: number }): void;
  plaintext(sock: net.Socket, dst: { ip: string; port: number }): void;
  /** Creates the pod's HBONE server (certificate, handler); it is bound here. */
  hbone(): HboneServer;
}

function serveFd(fd: number, onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Installs the rules and opens the three listeners inside the workload's namespace. */
export async function startPodCapture(w: Workload, h: InPodHandlers, logger: Logger): Promise<PodListeners> {
  const netns = w.netns!;
  await installPodRules(netns);
  const opened: { close(): void }[] = [];
  try {
    const withDst =
      (handle: (s: net.Socket, d: { ip: string; port: number }) => void) => (sock: net.Socket) => {
        let dst: { ip: string; port: number };
        try {
          dst = originalDst(sock);
        } catch (err) {
          logger.warn(
            { error: (err as Error).message, workload: w.uid },
            'connection without an original destination',
          );
          sock.destroy();
          return;
        }
        handle(sock, dst);
      };
    const outbound = await serveFd(
      listenSocket({ netns, host: '0.0.0.0', port: OUTBOUND_PORT, mark: ZTUNNEL_MARK }),
      withDst(h.outbound),
    );
    opened.push(outbound);
    const plaintext = await serveFd(
      listenSocket({
        netns,
        host: '0.0.0.0',
        port: INBOUND_PLAINTEXT_PORT,
        mark: ZTUNNEL_MARK,
        transparent: false,
      }),
      withDst(h.plaintext),
    );
    opened.push(plaintext);
    const hbone = h.hbone();
    await hbone.listen({
      fd: listenSocket({ netns, host: '0.0.0.0', port: HBONE_PORT, mark: ZTUNNEL_MARK }),
    } as net.ListenOptions);
    return { outbound, plaintext, hbone };
  } catch (err) {
    for (const s of opened) s.close();
    throw err;
  }
}

/**
 * Closes the pod's listeners. The rules are removed only when the workload itself is gone
 * (`removeRules`): when ztunnel merely stops, they stay, so the pod's traffic fails closed
 * while ztunnel is down instead of leaving the mesh unprotected.
 */
export async function stopPodCapture(
  w: Workload,
  l: PodListeners,
  drainMs: number,
  removeRules: boolean,
): Promise<void> {
  l.outbound.close();
  l.plaintext.close();
  await l.hbone.drain(drainMs);
  if (removeRules) await removePodRules(w.netns!).catch(() => undefined); // the namespace may be gone already
}
