// The local stack for `npm run bench:load`, in its own process: startLocalStack exactly as `ferry serve`
// wires it (loopback, the bench's git server allowed over http), plus a counter in front of the gateway's
// NOTIFY API so the bench can compare the messages the worker sent with those its clients received.
// Reads LOAD_DATA_DIR and LOAD_GIT_HOST; prints `READY <json>` once listening; GET <counter>/stats.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLocalStack } from '../../src/local/stack.js';

interface Counts {
  /** NOTIFY calls the gateway answered 2xx (delivered to a connected device), by message type. */
  accepted: Record<string, number>;
  /** Answered otherwise (404: the device is gone), by status. */
  refused: Record<string, number>;
  /** Could not reach the gateway. */
  failed: number;
}

const counts: Counts = { accepted: {}, refused: {}, failed: 0 };
let target: URL | undefined;

// Forwards each call as it came (its signature covers the path and x-ca-* headers, not the host).
const counter = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    let type = 'unknown';
    try {
      type = String((JSON.parse(body.toString('utf8')) as { type?: unknown }).type ?? 'unknown');
    } catch {
      // counted as unknown
    }
    if (!target) return void res.writeHead(503).end();
    const { host: _host, ...headers } = req.headers;
    const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...headers, 'content-length': body.length } }, (answer) => {
      const status = answer.statusCode ?? 0;
      if (status >= 200 && status < 300) counts.accepted[type] = (counts.accepted[type] ?? 0) + 1;
      else counts.refused[status] = (counts.refused[status] ?? 0) + 1;
      res.writeHead(status, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      counts.failed += 1;
      res.destroy();
    });
    upstream.end(body);
  });
});
await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', () => resolve()));
const counterUrl = `http://127.0.0.1:${(counter.address() as AddressInfo).port}`;

const stack = await startLocalStack({
  dataDir: process.env.LOAD_DATA_DIR ?? '.ferry-load',
  port: 0,
  allowHosts: [process.env.LOAD_GIT_HOST ?? ''],
  allowHttp: true,
  workerEnv: { FERRY_NOTIFY_URL: `${counterUrl}/notify`, ...passThrough() },
  log: process.env.LOAD_VERBOSE ? (line) => process.stderr.write(`[stack] ${line}\n`) : undefined,
});
target = new URL(stack.api);
process.stdout.write(`READY ${JSON.stringify({ gateway: stack.gateway, api: stack.api, oss: stack.oss, bucket: stack.bucket, appKey: stack.appKey, appSecret: stack.appSecret, counter: counterUrl })}\n`);

process.once('SIGTERM', () => {
  void stack.close().then(() => {
    counter.close();
    process.exit(0);
  });
});

/** FERRY_* in the bench's environment reach the worker, as `ferry serve` passes its tunables. */
function passThrough(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[0].startsWith('FERRY_') && entry[1] !== undefined));
}
