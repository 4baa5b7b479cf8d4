// Hostile file URLs ({"kind":"file"}) through the real local stack: other schemes, credentials, internal addresses,
// each GitHub file shape on a host that is not allowed, presigned URLs, fields a file job does not take, and
// redirect chains from an allowed upstream (test/helpers/file-upstream.ts) to places a file job must never go.
// A redirect is only seen when it is followed, so those rows are accepted (202) and fail: the row reads the job's
// final state; the forbidden upstream must never have been asked.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFileUpstream, type FileUpstream } from '../helpers/file-upstream.js';
import { waitForJob } from '../helpers/wait.js';
import { hostileTable, postJson, readJobError, type Answer, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

interface Target {
  hostile: HostileStack;
  /** On the allow-list: where every redirect chain starts. */
  allowed: FileUpstream;
  /** Not on the allow-list (`localhost:<port>`): must never see a request. */
  forbidden: FileUpstream;
}

let target: Target;
let hostile: HostileStack;
let allowed: FileUpstream;
let forbidden: FileUpstream;

beforeAll(async () => {
  allowed = await startFileUpstream();
  forbidden = await startFileUpstream({ hostname: 'localhost' });
  forbidden.serve('/secret', { body: Buffer.from('internal\n') });
  hostile = await startHostileStack({ allowHosts: [allowed.host] });
  target = { hostile, allowed, forbidden };
});
afterAll(async () => {
  await hostile?.close();
  await allowed?.close();
  await forbidden?.close();
});

const SIGNATURE = '7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e';
const NOT_ALLOWED = /are not served here/;

const file = (url: (t: Target) => string, extra: Record<string, unknown> = {}) => (t: Target) => postJson(t.hostile.stack.api, '/jobs', { kind: 'file', url: url(t), ...extra });

function refused(name: string, url: (t: Target) => string, status: number, code: string, message: RegExp): Row<Target> {
  return { name, send: file(url), status, code, message };
}

/** Submit a file at `path` of the allowed upstream after `setup` (its redirects), and read how the job ended. */
function chain(name: string, path: string, setup: (t: Target) => void, status: number, code: string, message: RegExp): Row<Target> {
  return {
    name,
    status,
    code,
    message,
    async send(t): Promise<Answer> {
      setup(t);
      const accepted = await postJson(t.hostile.stack.api, '/jobs', { kind: 'file', url: t.allowed.url(path) });
      const jobId = (JSON.parse(accepted.text.slice(accepted.text.indexOf('\n\n') + 2)) as { jobId?: string }).jobId;
      if (accepted.status !== 202 || !jobId) return accepted;
      return readJobError(await waitForJob(t.hostile.stack.api, jobId));
    },
  };
}

const rows: Row<Target>[] = [
  refused('javascript:', () => 'javascript:alert(document.domain)//x.bin', 400, 'INVALID_URL', /Only https:\/\//),
  refused('data:', () => 'data:application/octet-stream;base64,aGk=', 400, 'INVALID_URL', /Only https:\/\//),
  refused('file://', () => 'file:///etc/passwd', 400, 'INVALID_URL', /Only https:\/\//),
  refused('ftp://', (t) => `ftp://${t.allowed.host}/x.bin`, 400, 'INVALID_URL', /Only https:\/\//),
  refused('credentials in the URL', (t) => `http://user:pass@${t.allowed.host}/x.bin`, 400, 'INVALID_URL', /Remove the user name or token/),
  refused('a foreign host', () => 'https://evil.example/tool.tar.gz', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('the metadata service', () => 'http://100.100.100.200/latest/meta-data/ram/security-credentials/', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('the metadata service as a number', () => 'http://1684301000/latest/meta-data/', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('link-local metadata', () => 'http://169.254.169.254/latest/meta-data/', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('loopback on the allowed port, spelled [::1]', (t) => `http://[::1]:${new URL(t.allowed.origin).port}/x.bin`, 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('localhost (the forbidden upstream)', (t) => t.forbidden.url('/secret'), 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a release asset on a lookalike host', () => 'https://github.com.evil.example/o/r/releases/download/v1/a.bin', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a raw file on a lookalike host', () => 'https://raw.githubusercontent.com.evil.example/o/r/main/a.txt', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a gist on a lookalike host', () => 'https://gist.githubusercontent.com.evil.example/u/1/raw/a.txt', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a source archive on another port', () => 'https://codeload.github.com:8443/o/r/tar.gz/refs/tags/v1', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('an asset host on another port', () => 'https://objects.githubusercontent.com:444/x', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a presigned URL on a foreign host', () => `https://bucket.evil.example/a.bin?X-Amz-Signature=${SIGNATURE}&X-Amz-Credential=AKIA`, 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a presigned URL with credentials', (t) => `http://AKIA:${SIGNATURE}@${t.allowed.host}/a.bin?Signature=${SIGNATURE}`, 400, 'INVALID_URL', /Remove the user name or token/),
  refused('overlong (2100 characters)', (t) => `${t.allowed.url('/')}${'a'.repeat(2100)}`, 400, 'INVALID_URL', /longer than 2048/),
  refused('a newline', (t) => t.allowed.url('/a.bin\r\nX-Injected: 1'), 400, 'INVALID_URL', /control characters/),
  refused('a backslash', (t) => `http://${t.allowed.host}\\@evil.example/a.bin`, 400, 'INVALID_URL', /backslashes/),
  refused('a repository instead of a file', () => 'https://github.com/o/r', 400, 'BAD_REQUEST', /names a repository, not a file/),
  refused('no URL', () => '', 400, 'INVALID_URL', /Expected `url` to be a file URL/),
  { name: 'a ref on a file job', send: file((t) => t.allowed.url('/a.bin'), { ref: 'main' }), status: 400, code: 'BAD_REQUEST', message: /takes only `url`.*remove `ref`/ },
  { name: 'a format on a file job', send: file((t) => t.allowed.url('/a.bin'), { format: 'zip' }), status: 400, code: 'BAD_REQUEST', message: /remove `format`/ },
  { name: 'haves on a file job', send: file((t) => t.allowed.url('/a.bin'), { have: ['a'.repeat(40)] }), status: 400, code: 'BAD_REQUEST', message: /remove `have`/ },
  { name: 'a URL as a list', send: (t) => postJson(t.hostile.stack.api, '/jobs', { kind: 'file', url: [t.allowed.url('/a.bin')] }), status: 400, code: 'INVALID_URL', message: /Expected `url` to be a file URL/ },
  chain('a redirect to a host not allowed', '/r/foreign', (t) => t.allowed.redirect('/r/foreign', t.forbidden.url('/secret')), 403, 'HOST_NOT_ALLOWED', /redirected there/),
  chain('two allowed hops, then a host not allowed', '/r/hop1', (t) => {
    t.allowed.redirect('/r/hop1', t.allowed.url('/r/hop2'));
    t.allowed.redirect('/r/hop2', t.forbidden.url('/secret'));
  }, 403, 'HOST_NOT_ALLOWED', /redirected there/),
  chain('a redirect to the metadata service', '/r/metadata', (t) => t.allowed.redirect('/r/metadata', 'http://100.100.100.200/latest/meta-data/'), 403, 'HOST_NOT_ALLOWED', /redirected there/),
  chain('a redirect to loopback spelled [::1]', '/r/v6', (t) => t.allowed.redirect('/r/v6', `http://[::1]:${new URL(t.allowed.origin).port}/a.bin`), 403, 'HOST_NOT_ALLOWED', /redirected there/),
  chain('a redirect to file://', '/r/file', (t) => t.allowed.redirect('/r/file', 'file:///etc/passwd'), 502, 'UPSTREAM_UNREACHABLE', /redirected to a file: address, which ferry does not follow/),
  chain('a redirect to javascript:', '/r/js', (t) => t.allowed.redirect('/r/js', 'javascript:alert(1)'), 502, 'UPSTREAM_UNREACHABLE', /which ferry does not follow/),
  chain('a redirect with credentials', '/r/creds', (t) => t.allowed.redirect('/r/creds', `http://u:p@${t.allowed.host}/a.bin`), 502, 'UPSTREAM_UNREACHABLE', /credentials in it/),
  chain('a redirect loop', '/r/loop', (t) => t.allowed.redirect('/r/loop', t.allowed.url('/r/loop')), 502, 'UPSTREAM_UNREACHABLE', /redirected more than 5 times/),
];

hostileTable('hostile file URLs', rows, () => ({ ...hostile.stage(), target }));

it('never asked the forbidden upstream, whatever redirected there', () => {
  expect(forbidden.count('/secret')).toBe(0);
});
