// Hostile repository URLs, sent as `url` of POST /jobs (and GET /refs?url=) through the real local stack: schemes,
// userinfo, ports, loopback and metadata addresses in every spelling, traversal, encoded slashes, overlong URLs,
// control characters, lookalike hosts. None may reach a git server (the fixture server is on the allow-list, so
// a URL that slipped through to it would be counted). Every row is refused before any network request.
import { afterAll, beforeAll } from 'vitest';
import { postJson, readAnswer, send, type Row } from './_table.js';
import { hostileTable } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

let stage: HostileStack;
beforeAll(async () => {
  stage = await startHostileStack();
});
afterAll(() => stage?.close());

/** The fixture server's `127.0.0.1:<port>` and port, so rows can aim at the one host that is allowed. */
const gitHost = (s: HostileStack): string => s.git.host;
const gitPort = (s: HostileStack): string => new URL(s.git.url).port;

type UrlOf = (s: HostileStack) => string;

const job = (url: UrlOf) => (s: HostileStack) => postJson(s.stack.api, '/jobs', { url: url(s) });
const refs = (url: UrlOf) => async (s: HostileStack) => readAnswer(await send(s.stack.api, { path: `/refs?url=${encodeURIComponent(url(s))}` }));

const NOT_ALLOWED = /not served here\. Allowed hosts: /;
const CREDENTIALS = /Remove the user name or token/;

function refused(name: string, url: UrlOf, status: number, code: string, message?: RegExp): Row<HostileStack> {
  return { name, send: job(url), status, code, ...(message && { message }) };
}

const rows: Row<HostileStack>[] = [
  // Schemes
  refused('file:// URL', () => 'file:///etc/passwd', 400, 'INVALID_URL', /Only https:\/\//),
  refused('ftp:// on the allowed host', (s) => `ftp://${gitHost(s)}/fixtures/basic`, 400, 'INVALID_URL', /Only https:\/\//),
  refused('ssh:// on the allowed host', (s) => `ssh://git@${gitHost(s)}/fixtures/basic`, 400, 'INVALID_URL', /Only https:\/\//),
  refused('git:// protocol', (s) => `git://${gitHost(s)}/fixtures/basic`, 400, 'INVALID_URL', /Only https:\/\//),
  refused('git remote helper ext::', () => 'ext::sh%20-c%20touch%20/tmp/pwned', 400, 'INVALID_URL'),
  refused('git remote helper fd::', () => 'fd::17', 400, 'INVALID_URL'),
  refused('javascript: URL', () => 'javascript://github.com/%0aalert(1)', 400, 'INVALID_URL', /Only https:\/\//),
  refused('data: URL', () => 'data:text/plain,github.com/a/b', 400, 'INVALID_URL'),
  refused('gopher:// to the metadata service', () => 'gopher://100.100.100.200:80/_GET', 400, 'INVALID_URL', /Only https:\/\//),
  refused('an empty url', () => '', 400, 'INVALID_URL', /Expected `url`/),
  refused('spaces only', () => '   ', 400, 'INVALID_URL', /Expected `url`/),
  // Userinfo
  refused('user and password', (s) => `http://user:secret@${gitHost(s)}/fixtures/basic`, 400, 'INVALID_URL', CREDENTIALS),
  refused('a token as user name', (s) => `http://ghp_abcdefghijklmnop@${gitHost(s)}/fixtures/basic`, 400, 'INVALID_URL', CREDENTIALS),
  refused('an allowed host as userinfo before a foreign one', () => 'https://github.com@evil.example/o/r', 400, 'INVALID_URL', CREDENTIALS),
  // Ports and hosts
  refused('an allowed name on another port', () => 'https://github.com:22/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('the allowed address on another port', (s) => `http://127.0.0.1:${Number(gitPort(s)) + 1}/fixtures/basic`, 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('an out-of-range port', () => 'https://github.com:99999/o/r', 400, 'INVALID_URL', /not a URL/),
  refused('a foreign host', () => 'https://evil.example/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('an allowed name as a subdomain of a foreign one', () => 'https://github.com.evil.example/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a foreign host behind a fragment', () => 'https://evil.example#@github.com/o/r', 400, 'INVALID_URL', /query string or #fragment/),
  refused('a query string', (s) => `http://${gitHost(s)}/fixtures/basic?service=git-upload-pack`, 400, 'INVALID_URL', /query string/),
  refused('a trailing-dot host', () => 'https://github.com./o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('Cyrillic i in github (a lookalike)', () => 'https://gіthub.com/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a fullwidth lookalike host', () => 'https://ｇｉｔｈｕｂ.com.evil.example/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  // Loopback, in every spelling (the allowed entry is 127.0.0.1 on the git server's port only)
  refused('localhost', () => 'http://localhost/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('localhost on the git port', (s) => `http://localhost:${gitPort(s)}/fixtures/basic`, 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('127.0.0.1 on the default port', () => 'http://127.0.0.1/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('loopback as a decimal number', () => 'http://2130706433/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('loopback in octal', () => 'http://0177.0.0.1/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('loopback in hex', () => 'http://0x7f.0x0.0x0.0x1/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('loopback shortened', () => 'http://127.1/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('another loopback address', () => 'http://127.255.255.254/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('the unspecified address', () => 'http://0.0.0.0/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('0 as a host', () => 'http://0/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('IPv6 loopback', () => 'http://[::1]/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('IPv6 loopback on the git port', (s) => `http://[::1]:${gitPort(s)}/fixtures/basic`, 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('IPv4-mapped IPv6 loopback', () => 'http://[::ffff:127.0.0.1]/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('IPv4-mapped loopback on the git port', (s) => `http://[::ffff:7f00:1]:${gitPort(s)}/fixtures/basic`, 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a name that resolves to loopback', () => 'http://127.0.0.1.nip.io/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  // The metadata service and other internal addresses
  refused('Alibaba Cloud metadata service', () => 'http://100.100.100.200/latest/meta-data', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('metadata as a decimal number', () => 'http://1684301000/latest/meta-data', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('metadata in hex', () => 'http://0x64646464c8/o/r', 400, 'INVALID_URL'),
  refused('metadata in octal', () => 'http://0144.0144.0144.0310/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('metadata IPv4-mapped', () => 'http://[::ffff:100.100.100.200]/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('link-local metadata (169.254.169.254)', () => 'http://169.254.169.254/latest/meta-data', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('a private address', () => 'https://10.0.0.1/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('an IPv6 unique-local address', () => 'https://[fd00::1]/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('an IPv6 link-local address', () => 'https://[fe80::1]/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  refused('NAT64 of the metadata address', () => 'https://[64:ff9b::6464:64c8]/o/r', 403, 'HOST_NOT_ALLOWED', NOT_ALLOWED),
  // Paths
  refused('traversal with ..', (s) => `http://${gitHost(s)}/fixtures/%2e%2e`, 400, 'INVALID_URL', /names no repository/),
  refused('traversal with an encoded slash', (s) => `http://${gitHost(s)}/fixtures/..%2f..%2fetc`, 400, 'INVALID_URL', /not a valid owner or repository name/),
  refused('an encoded slash in the owner', (s) => `http://${gitHost(s)}/fix%2ftures/basic`, 400, 'INVALID_URL', /not a valid owner or repository name/),
  refused('a malformed %-escape', (s) => `http://${gitHost(s)}/fixtures/ba%zzsic`, 400, 'INVALID_URL', /%-escape/),
  refused('a segment starting with -', (s) => `http://${gitHost(s)}/fixtures/-basic`, 400, 'INVALID_URL', /not a valid owner or repository name/),
  refused('an option as the path', (s) => `http://${gitHost(s)}/--upload-pack=touch%20x/r`, 400, 'INVALID_URL', /not a valid owner or repository name/),
  refused('no repository', () => 'https://github.com/', 400, 'INVALID_URL', /names no repository/),
  refused('only an owner', () => 'https://github.com/owner', 400, 'INVALID_URL', /names no repository/),
  refused('a file link instead of a repository', () => 'https://github.com/o/r/blob/main/README.md', 400, 'INVALID_URL', /is a file/),
  refused('a segment over 100 characters', (s) => `http://${gitHost(s)}/fixtures/${'a'.repeat(101)}`, 400, 'INVALID_URL', /not a valid owner or repository name/),
  refused('overlong (600 characters)', (s) => `http://${gitHost(s)}/fixtures/${'a/'.repeat(290)}basic`, 400, 'INVALID_URL', /longer than 512/),
  refused('unicode in the path', (s) => `http://${gitHost(s)}/fixtures/bаsic`, 400, 'INVALID_URL', /not a valid owner or repository name/),
  // Control characters
  refused('a NUL byte', (s) => `http://${gitHost(s)}/fixtures/basic\u0000`, 400, 'INVALID_URL', /control characters/),
  refused('a newline', (s) => `http://${gitHost(s)}/fixtures/basic\n--upload-pack=x`, 400, 'INVALID_URL', /control characters/),
  refused('a tab in the host', () => 'https://git\thub.com/o/r', 400, 'INVALID_URL', /control characters/),
  refused('DEL', (s) => `http://${gitHost(s)}/fixtures/basic\u007f`, 400, 'INVALID_URL', /control characters/),
  refused('a backslash', () => 'https://github.com\\@evil.example/o/r', 400, 'INVALID_URL', /backslashes/),
  refused('an escaped CRLF', (s) => `http://${gitHost(s)}/fixtures/basic%0d%0aX-Injected:1`, 400, 'INVALID_URL', /not a valid owner or repository name/),
  // Not a string
  { name: 'url as a number', send: (s) => postJson(s.stack.api, '/jobs', { url: 7 }), status: 400, code: 'INVALID_URL', message: /Expected `url`/ },
  { name: 'url as an array', send: (s) => postJson(s.stack.api, '/jobs', { url: [s.repo] }), status: 400, code: 'INVALID_URL', message: /Expected `url`/ },
  { name: 'url as an object', send: (s) => postJson(s.stack.api, '/jobs', { url: { href: s.repo } }), status: 400, code: 'INVALID_URL', message: /Expected `url`/ },
  // GET /refs takes the same URLs through the same check
  { name: 'refs of the metadata service', send: refs(() => 'http://100.100.100.200/latest/meta-data'), status: 403, code: 'HOST_NOT_ALLOWED', message: NOT_ALLOWED },
  { name: 'refs of a file:// URL', send: refs(() => 'file:///etc/passwd'), status: 400, code: 'INVALID_URL', message: /Only https:\/\// },
  { name: 'refs with credentials', send: refs((s) => `http://u:p@${gitHost(s)}/fixtures/basic`), status: 400, code: 'INVALID_URL', message: CREDENTIALS },
  { name: 'refs without a url', send: async (s) => readAnswer(await send(s.stack.api, { path: '/refs' })), status: 400, code: 'INVALID_URL', message: /Expected `url`/ },
];

hostileTable('hostile repository URLs', rows, () => stage.stage());
