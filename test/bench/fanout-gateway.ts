// The gateway under test for the fan-out benchmark, in its own process so that it has a core to
// itself and its CPU and memory can be read from /proc. The backend is trivial (REGISTER and
// UNREGISTER answer 200): this measures the gateway, not the worker.
// Reads FANOUT_APP_KEY / FANOUT_APP_SECRET; prints `READY <http url>` once listening.
import type { ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { startGateway } from '../../src/local/gateway/index.js';

const ok: ApiGatewayResult = { isBase64Encoded: false, statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };

const gateway = await startGateway({
  port: 0,
  apps: [{ appKey: process.env.FANOUT_APP_KEY ?? '', appSecret: process.env.FANOUT_APP_SECRET ?? '' }],
  apis: [
    { method: 'POST', path: '/register', auth: 'ANONYMOUS', type: 'REGISTER' },
    { method: 'POST', path: '/unregister', auth: 'ANONYMOUS', type: 'UNREGISTER' },
    { method: 'POST', path: '/notify', auth: 'APP', type: 'NOTIFY' },
  ],
  backend: { invoke: async () => ok },
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`READY ${gateway.url}\n`);
process.once('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
