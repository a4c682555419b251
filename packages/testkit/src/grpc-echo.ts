// A gRPC app without generated code: one unary method `/testkit.Echo/Echo` on raw bytes
// (the answer is JSON naming the pod), optionally answering UNAVAILABLE to every n-th call
// — what the waypoint's gRPC retry scenario needs. Real HTTP/2 and gRPC framing (grpc-js).
import * as grpc from '@grpc/grpc-js';

const raw = {
  path: '/testkit.Echo/Echo',
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
} as const;

export async function startGrpcEcho(o: {
  port: number;
  podName: string;
  failEvery?: number;
}): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  let calls = 0;
  server.addService({ Echo: raw } as unknown as grpc.ServiceDefinition, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls++;
      if (o.failEvery && calls % o.failEvery === 0)
        return cb({ code: grpc.status.UNAVAILABLE, details: 'testkit: failing on purpose' });
      cb(null, Buffer.from(JSON.stringify({ pod: o.podName, bytes: call.request.length })));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`0.0.0.0:${o.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

export async function grpcCalls(o: { target: string; count: number; timeoutMs: number }) {
  const Client = grpc.makeGenericClientConstructor(
    { Echo: raw } as unknown as grpc.ServiceDefinition,
    'Echo',
  );
  // grpc-js's own retries off: the waypoint's retry policy is under test.
  const client = new Client(o.target, grpc.credentials.createInsecure(), {
    'grpc.enable_retries': 0,
  }) as unknown as {
    Echo(
      req: Buffer,
      md: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Buffer) => void,
    ): void;
    close(): void;
  };
  const codes: Record<string, number> = {};
  const pods: Record<string, number> = {};
  for (let i = 0; i < o.count; i++) {
    await new Promise<void>((resolve) =>
      client.Echo(
        Buffer.from('ping'),
        new grpc.Metadata(),
        { deadline: Date.now() + o.timeoutMs },
        (err, res) => {
          const code = err ? err.code : 0;
          codes[code] = (codes[code] ?? 0) + 1;
          if (res) {
            const pod = (JSON.parse(res.toString()) as { pod: string }).pod;
            pods[pod] = (pods[pod] ?? 0) + 1;
          }
          resolve();
        },
      ),
    );
  }
  client.close();
  return { count: o.count, codes, pods };
}
