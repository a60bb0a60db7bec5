// The demo command (`npm run demo`). The narrated demo — a PKI, a Control Plane, two gateway
// Data Planes over wss and tcp, an outage and a restart from the LMDB cache — arrives with
// the gateway example; until then this says so after making the clone ready.
import { bootstrap } from './bootstrap.mjs';

bootstrap();
console.log('demo arrives with the gateway example (examples/gateway); run `npm test` meanwhile');
