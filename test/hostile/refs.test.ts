// Hostile refs through the real local stack: `ref` of an archive, the ref a URL names (/tree/, /commit/) and the
// `refs` list of a bundle. git's check-ref-format rules and option injection are refused before any git request;
// only a well-formed name or id the repository lacks asks the git server (and is then refused at submit).
import { afterAll, beforeAll } from 'vitest';
import { hostileTable, postJson, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

let stage: HostileStack;
beforeAll(async () => {
  stage = await startHostileStack();
});
afterAll(() => stage?.close());

const NOT_VALID = /is not a valid ref: /;

function ref(name: string, value: unknown, message: RegExp = NOT_VALID): Row<HostileStack> {
  return { name, send: (s) => postJson(s.stack.api, '/jobs', { url: s.repo, ref: value }), status: 400, code: 'INVALID_REF', message };
}

function bundleRefs(name: string, value: unknown, message: RegExp): Row<HostileStack> {
  return { name, send: (s) => postJson(s.stack.api, '/jobs', { kind: 'bundle', url: s.repo, refs: value }), status: 400, code: 'INVALID_REF', message };
}

const rows: Row<HostileStack>[] = [
  ref('..', '..', /"\.\."/),
  ref('a range a..b', 'main..release', /"\.\."/),
  ref('a reflog @{-1}', '@{-1}', /"@\{"/),
  ref('HEAD@{1}', 'HEAD@{1}', /"@\{"/),
  ref('a lone @', '@'),
  ref('a leading -', '-main', /starts with "-"/),
  ref('--upload-pack= injection', '--upload-pack=touch /tmp/pwned', /starts with "-"/),
  ref('--output= injection', '--output=/tmp/x', /starts with "-"/),
  ref('-c config injection', '-cprotocol.ext.allow=always', /starts with "-"/),
  ref('a NUL byte', 'main\u0000', /control character/),
  ref('a newline then a pkt-line', 'main\n0032want', /control character/),
  ref('a space', 'ma in', /space/),
  ref('DEL', 'main\u007f', /control character/),
  ref('a tilde', 'main~1', /~\^:/),
  ref('a caret', 'v1.0.0^{}', /~\^:/),
  ref('a colon (a refspec)', 'main:refs/heads/evil', /~\^:/),
  ref('a glob', 'refs/heads/*', /~\^:/),
  ref('a bracket', 'ma[in', /~\^:/),
  ref('a backslash', 'ma\\in', /~\^:/),
  ref('a double slash', 'feature//x', /"\/\/"/),
  ref('a leading slash', '/main', /starts or ends with/),
  ref('a trailing slash', 'main/', /starts or ends with/),
  ref('a trailing dot', 'main.', /starts or ends with/),
  ref('.lock', 'main.lock', /\.lock/),
  ref('a component starting with .', 'feature/.x', /component starts with/),
  ref('overlong (300 characters)', 'a'.repeat(300), /longer than 255/),
  ref('a number', 7, /Expected `ref`/),
  ref('an array', ['main'], /Expected `ref`/),
  ref('an object', { name: 'main' }, /Expected `ref`/),
  { name: 'a ref unlike the /tree/ of the URL', send: (s) => postJson(s.stack.api, '/jobs', { url: `${s.repo}/tree/main`, ref: 'release' }), status: 400, code: 'INVALID_REF', message: /give only one of them/ },
  { name: 'a short id in /commit/', send: (s) => postJson(s.stack.api, '/jobs', { url: `${s.repo}/commit/abc1234` }), status: 400, code: 'INVALID_REF', message: /full 40-character id/ },
  { name: '/commit/ with no id', send: (s) => postJson(s.stack.api, '/jobs', { url: `${s.repo}/commit/main/x` }), status: 400, code: 'INVALID_URL', message: /does not name a commit/ },
  { name: 'a ref on a bundle job', send: (s) => postJson(s.stack.api, '/jobs', { kind: 'bundle', url: s.repo, ref: 'main' }), status: 400, code: 'BAD_REQUEST', message: /takes `refs`/ },
  { name: '`refs` on an archive job', send: (s) => postJson(s.stack.api, '/jobs', { url: s.repo, refs: ['refs/heads/main'] }), status: 400, code: 'BAD_REQUEST', message: /for bundle jobs/ },
  bundleRefs('refs: not a list', 'refs/heads/main', /a list of 1-1000 full ref names/),
  bundleRefs('refs: an empty list', [], /a list of 1-1000 full ref names/),
  bundleRefs('refs: 1001 names', Array.from({ length: 1001 }, (_, i) => `refs/heads/b${i}`), /a list of 1-1000 full ref names/),
  bundleRefs('refs: a short name', ['main'], /not under refs\/heads\/ or refs\/tags\//),
  bundleRefs('refs: outside heads and tags', ['refs/remotes/origin/main'], /not under refs\/heads\/ or refs\/tags\//),
  bundleRefs('refs: a range', ['refs/heads/a..b'], /"\.\."/),
  bundleRefs('refs: an option', ['--upload-pack=x'], /not under refs\/heads\//),
  bundleRefs('refs: a control character', ['refs/heads/ma\u0001in'], /control character/),
  bundleRefs('refs: a number', [7], /not a string/),
  bundleRefs('refs: null', [null], /not a string/),
  // Well-formed but absent: only the repository knows, so these ask it, and are refused at submit with no job.
  { name: 'a branch the repository lacks', send: (s) => postJson(s.stack.api, '/jobs', { url: s.repo, ref: 'no-such-branch' }), status: 404, code: 'REF_NOT_FOUND', asksGit: true },
  { name: 'a full commit id the repository lacks', send: (s) => postJson(s.stack.api, '/jobs', { url: s.repo, ref: 'f'.repeat(40) }), status: 404, code: 'REF_NOT_FOUND', asksGit: true },
  { name: 'a 64-digit id on a SHA-1 repository', send: (s) => postJson(s.stack.api, '/jobs', { url: s.repo, ref: 'e'.repeat(64) }), status: 404, code: 'REF_NOT_FOUND', asksGit: true },
  { name: 'a /tree/ path no branch starts', send: (s) => postJson(s.stack.api, '/jobs', { url: `${s.repo}/tree/nope/deeper` }), status: 404, code: 'REF_NOT_FOUND', asksGit: true },
  { name: 'a repository the server lacks', send: (s) => postJson(s.stack.api, '/jobs', { url: `${s.git.url}/fixtures/nope` }), status: 404, code: 'REPO_NOT_FOUND', asksGit: true },
];

hostileTable('hostile refs', rows, () => stage.stage());
