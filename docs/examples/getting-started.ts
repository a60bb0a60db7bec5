import { ControlPlane, DataPlane, generateClusterCertificate, memoryTransport, TrustVerifier } from '@planesync/core';

const { certificate } = await generateClusterCertificate(); // like `kong hybrid gen_cert`
const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
const { server, client } = memoryTransport({ certificates: [certificate] });

const cp = new ControlPlane({ transport: server, trust, version: '3.10.0' });
await cp.start();

const dp = new DataPlane({ transport: client({ certificates: [certificate] }), trust, version: '3.10.0' });
dp.on('config', (snapshot) => console.log(`DP serves ${snapshot.hash} from ${snapshot.source}`));
await dp.start(); // serving at once: cache, declarative file, or empty

const { hash } = await cp.setConfig({
  _format_version: '3.0',
  services: [{ name: 'echo', url: 'http://127.0.0.1:8080', routes: [{ paths: ['/echo'] }] }],
});
await dp.waitForConfig({ hash }); // pushed by the CP, applied, cached, acknowledged

await dp.stop(); // each plane stops its timers and connections, so the process ends
await cp.stop();
