// Hostile destinations behind allowed names (the SSRF guard, src/worker/net/): the stack here allows, by name and
// without a port, hosts that are internal addresses (`localhost`, `127.0.0.2`, the metadata service, `[::1]`, …), as
// a careless operator might. The host lists let them through; the guard must still refuse every one with
// 403 DESTINATION_FORBIDDEN before any connection, at submit for repositories and files, and at the hop for a
// redirect. The internal upstream must never see a request.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFileUpstream, type FileUpstream } from '../helpers/file-upstream.js';
import { waitForJob } from '../helpers/wait.js';
import { hostileTable, postJson, readAnswer, readJobError, send, type Answer, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

interface Target {
  hostile: HostileStack;
  /** Allowed with its port (so an allowed destination): where the redirect chains start. */
  allowed: FileUpstream;
  /** `localhost:<port>`, a file host by name but no allowed destination: must never see a request. */
  internal: FileUpstream;
}

// Internal addresses an operator listed by name (no port, so the embedded stack does not make them destinations).
const INTERNAL_NAMES = ['localhost', '127.0.0.2', '100.100.100.200', '169.254.169.254', '10.0.0.1', '[::1]', '[::ffff:7f00:1]', '[64:ff9b::6464:64c8]'];

let target: Target;
let hostile: HostileStack;
let allowed: FileUpstream;
let internal: FileUpstream;

beforeAll(async () => {
  allowed = await startFileUpstream();
  internal = await startFileUpstream({ hostname: 'localhost' });
  internal.serve('/secret', { body: Buffer.from('internal\n') });
  hostile = await startHostileStack({
    allowHosts: [allowed.host, ...INTERNAL_NAMES],
    workerEnv: { FERRY_FILE_HOSTS: [internal.host, ...INTERNAL_NAMES].join(',') },
  });
  target = { hostile, allowed, internal };
});
afterAll(async () => {
  await hostile?.close();
  await allowed?.close();
  await internal?.close();
});

/** The message names the host and the exact `host:port` to allow, never the address a name resolved to. */
const FORBIDDEN = (destination: string): RegExp => new RegExp(`does not connect to .*adding ${destination.replace(/[[\]().]/g, '\\$&')} to FERRY_ALLOWED_DESTINATIONS`);

function repo(name: string, url: string, destination: string, fields: Record<string, unknown> = {}): Row<Target> {
  return { name, send: (t) => postJson(t.hostile.stack.api, '/jobs', { url, ...fields }), status: 403, code: 'DESTINATION_FORBIDDEN', message: FORBIDDEN(destination) };
}

function file(name: string, url: (t: Target) => string, destination: (t: Target) => string): Row<Target> {
  return {
    name,
    async send(t) {
      const answer = await postJson(t.hostile.stack.api, '/jobs', { kind: 'file', url: url(t) });
      expect(answer.message).toMatch(FORBIDDEN(destination(t)));
      return answer;
    },
    status: 403,
    code: 'DESTINATION_FORBIDDEN',
  };
}

/** A file at `path` of the allowed upstream, redirecting to `location`: the job is accepted and fails at that hop. */
function redirect(name: string, path: string, location: (t: Target) => string): Row<Target> {
  return {
    name,
    async send(t): Promise<Answer> {
      t.allowed.redirect(path, location(t));
      const accepted = await postJson(t.hostile.stack.api, '/jobs', { kind: 'file', url: t.allowed.url(path) });
      const jobId = (JSON.parse(accepted.text.slice(accepted.text.indexOf('\n\n') + 2)) as { jobId?: string }).jobId;
      if (accepted.status !== 202 || !jobId) return accepted;
      return readJobError(await waitForJob(t.hostile.stack.api, jobId));
    },
    status: 403,
    code: 'DESTINATION_FORBIDDEN',
    message: /does not connect to .*FERRY_ALLOWED_DESTINATIONS/,
  };
}

const rows: Row<Target>[] = [
  repo('an allowed name that is loopback', 'http://localhost/o/r', 'localhost:80'),
  repo('an allowed loopback address', 'http://127.0.0.2/o/r', '127.0.0.2:80'),
  repo('an allowed metadata address', 'http://100.100.100.200/latest/meta-data', '100.100.100.200:80'),
  repo('the metadata address spelled as a number', 'http://1684301000/latest/meta-data', '100.100.100.200:80'),
  repo('an allowed link-local address', 'http://169.254.169.254/o/r', '169.254.169.254:80'),
  repo('an allowed private address', 'http://10.0.0.1/o/r', '10.0.0.1:80'),
  repo('an allowed IPv6 loopback', 'http://[::1]/o/r', '[::1]:80'),
  repo('an allowed IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/o/r', '[::ffff:7f00:1]:80'),
  repo('an allowed NAT64 of the metadata address', 'http://[64:ff9b::100.100.100.200]/o/r', '[64:ff9b::6464:64c8]:80'),
  repo('a bundle from a loopback name', 'http://localhost/o/r', 'localhost:80', { kind: 'bundle' }),
  repo('an archive at a commit of a loopback name', 'http://localhost/o/r', 'localhost:80', { ref: 'a'.repeat(40) }),
  {
    name: 'the refs of a loopback name',
    send: async (t) => readAnswer(await send(t.hostile.stack.api, { path: `/refs?url=${encodeURIComponent('http://localhost/o/r')}` })),
    status: 403,
    code: 'DESTINATION_FORBIDDEN',
    message: FORBIDDEN('localhost:80'),
  },
  file('a file host that is loopback', (t) => t.internal.url('/secret'), (t) => t.internal.host),
  file('a file on the metadata service', () => 'http://100.100.100.200/latest/meta-data/ram/security-credentials/', () => '100.100.100.200:80'),
  file('a file on an IPv6 loopback', () => 'http://[::1]/x.bin', () => '[::1]:80'),
  redirect('a redirect to a file host that is loopback', '/r/internal', (t) => t.internal.url('/secret')),
  redirect('a redirect to the metadata service', '/r/metadata', () => 'http://100.100.100.200/latest/meta-data/'),
  redirect('a redirect to the metadata service as a number', '/r/number', () => 'http://1684301000/latest/meta-data/'),
  redirect('two hops, then loopback', '/r/hop1', (t) => {
    t.allowed.redirect('/r/hop2', t.internal.url('/secret'));
    return t.allowed.url('/r/hop2');
  }),
];

hostileTable('hostile destinations behind allowed names', rows, () => ({ ...hostile.stage(), target }));

it('never let a request reach the internal upstream', () => {
  expect(internal.count('/secret')).toBe(0);
});
