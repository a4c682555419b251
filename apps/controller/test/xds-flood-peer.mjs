#!/usr/bin/env node
// The noisy neighbour of noisy-neighbour.test.ts, in its own process: an authenticated proxy
// that, for FLOOD_MS, keeps sending Delta requests each naming the most resources a request may
// (absent ones), on a few streams at once. Prints how many requests it sent.
import { readFileSync } from 'node:fs';
import { DeltaDiscoveryRequest, TypeUrl } from '@ambient/proto';
import { adsServiceDefinition, XDS_LIMITS } from '@ambient/xds';
import * as grpc from '@grpc/grpc-js';

const { ADDRESS, ROOT, TOKEN, FLOOD_MS } = process.env;
const Client = grpc.makeGenericClientConstructor(adsServiceDefinition, 'ads');
const client = new Client(ADDRESS, grpc.credentials.createSsl(readFileSync(ROOT)));
const stopAt = Date.now() + Number(FLOOD_MS);
let sent = 0;
let seq = 0;
const names = () => Array.from({ length: XDS_LIMITS.namesPerRequest }, () => `absent/${seq++}`);
const streams = Array.from({ length: 3 }, () => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  const call = client.DeltaAggregatedResources(md);
  call.on('error', () => {});
  call.on('data', () => {});
  call.write(
    DeltaDiscoveryRequest.create({
      typeUrl: TypeUrl.Address,
      node: {
        id: 'ztunnel~x~y.ambient-system~z',
        metadata: { fields: { NAMESPACE: { stringValue: 'ambient-system' } } },
      },
    }),
  );
  return call;
});
while (Date.now() < stopAt) {
  for (const call of streams) {
    // Subscribe 10,000 absent names, then drop them: the stream stays under its own limit.
    const batch = names();
    call.write(DeltaDiscoveryRequest.create({ typeUrl: TypeUrl.Address, resourceNamesSubscribe: batch }));
    call.write(DeltaDiscoveryRequest.create({ typeUrl: TypeUrl.Address, resourceNamesUnsubscribe: batch }));
    sent += 2;
  }
  await new Promise((r) => setTimeout(r, 20));
}
for (const call of streams) call.cancel();
client.close();
process.stdout.write(String(sent));
