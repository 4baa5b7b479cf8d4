// Hostile repositories against the allow and deny lists (FERRY_ALLOWED_REPOS / FERRY_DENIED_REPOS,
// src/worker/repo-lists.ts) through the real local stack: every kind (archive, bundle, file) and GET /refs is
// refused 403 REPO_NOT_ALLOWED at submit, naming the list and the entry, before any git request or DNS lookup.
// The lists mix every pattern: owner, owner/repo, */repo and host-scoped host/owner/repo; URLs use other cases.
import { afterAll, beforeAll } from 'vitest';
import { hostileTable, postJson, readAnswer, send, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

const ALLOWED = 'fixtures,allowed-owner/one,*/shared,github.com/gh-only/repo';
const DENIED = 'fixtures/secret,*/forbidden,evil,github.com/fixtures/*';

let stage: HostileStack;
beforeAll(async () => {
  stage = await startHostileStack({ workerEnv: { FERRY_ALLOWED_REPOS: ALLOWED, FERRY_DENIED_REPOS: DENIED } });
});
afterAll(() => stage?.close());

const NOT_ALLOWED = /is not on this service's FERRY_ALLOWED_REPOS \(fixtures, allowed-owner\/one, \*\/shared, github\.com\/gh-only\/repo\)/;
const DENIED_BY = (entry: string): RegExp => new RegExp(`is refused by this service's FERRY_DENIED_REPOS \\(entry "${entry.replace(/[.*/]/g, '\\$&')}"\\)`);

type Url = (s: HostileStack) => string;

function job(name: string, kind: 'archive' | 'bundle' | 'file', url: Url, message: RegExp, extra: Record<string, unknown> = {}): Row<HostileStack> {
  return { name: `${kind} ${name}`, send: (s) => postJson(s.stack.api, '/jobs', { kind, url: url(s), ...extra }), status: 403, code: 'REPO_NOT_ALLOWED', message };
}

/** A repository on the stack's own git server (an allowed host). */
const local = (path: string): Url => (s) => `${s.git.url}/${path}`;
const at = (url: string): Url => () => url;

const rows: Row<HostileStack>[] = [
  job('of an owner not on the allow list', 'archive', local('other/repo'), NOT_ALLOWED),
  job('of a denied owner/repo', 'archive', local('fixtures/secret'), DENIED_BY('fixtures/secret')),
  job('of a denied owner/repo in capitals', 'archive', local('FIXTURES/Secret'), DENIED_BY('fixtures/secret')),
  job('of a denied owner/repo with .git', 'archive', local('fixtures/secret.git'), DENIED_BY('fixtures/secret')),
  job('of a */repo denial under an allowed owner (deny wins)', 'archive', local('fixtures/forbidden'), DENIED_BY('*/forbidden')),
  job('of a */repo denial in capitals', 'archive', at('https://github.com/someone/ForBidden'), DENIED_BY('*/forbidden')),
  job('of a denied owner', 'archive', at('https://github.com/evil/anything'), DENIED_BY('evil')),
  job('of a denied owner in mixed case', 'archive', at('https://github.com/EvIl/x'), DENIED_BY('evil')),
  job('of a denied owner by its tree URL', 'archive', at('https://github.com/evil/x/tree/main'), DENIED_BY('evil')),
  job('of a denied owner at a commit', 'archive', at('https://github.com/evil/x'), DENIED_BY('evil'), { ref: 'a'.repeat(40) }),
  job('of a denied owner in a GitLab subgroup', 'archive', at('https://gitlab.com/evil/sub/project'), DENIED_BY('evil')),
  job('of a host-scoped denial on its host', 'archive', at('https://github.com/fixtures/basic'), DENIED_BY('github.com/fixtures/*')),
  job('of a host-scoped allowance on another host', 'archive', local('gh-only/repo'), NOT_ALLOWED),
  job('of a host-scoped allowance on another forge', 'archive', at('https://gitlab.com/gh-only/repo'), NOT_ALLOWED),
  job('of an allowed owner/repo\'s sibling', 'archive', at('https://github.com/allowed-owner/two'), NOT_ALLOWED),
  job('of a name that only starts like */shared', 'archive', at('https://github.com/x/shared-not'), NOT_ALLOWED),
  job('of an owner that only starts like an allowed one', 'archive', at('https://github.com/fixtures-x/basic'), NOT_ALLOWED),
  job('of an owner not on the allow list', 'bundle', at('https://github.com/other/repo'), NOT_ALLOWED),
  job('of a denied owner/repo', 'bundle', local('fixtures/secret'), DENIED_BY('fixtures/secret')),
  job('of a */repo denial in capitals', 'bundle', at('https://codeberg.org/Other/FORBIDDEN'), DENIED_BY('*/forbidden')),
  job('of a denied owner with a have list', 'bundle', at('https://github.com/evil/x'), DENIED_BY('evil'), { have: ['b'.repeat(40)] }),
  job('on raw.githubusercontent.com of a denied owner', 'file', at('https://raw.githubusercontent.com/evil/x/main/a.txt'), DENIED_BY('evil')),
  job('on raw.githubusercontent.com of a host-scoped denial', 'file', at('https://raw.githubusercontent.com/fixtures/basic/main/README.md'), DENIED_BY('github.com/fixtures/*')),
  job('of a blob URL not on the allow list', 'file', at('https://github.com/other/repo/blob/main/a.txt'), NOT_ALLOWED),
  job('of a raw URL of a */repo denial in capitals', 'file', at('https://github.com/Someone/Forbidden/raw/main/a.txt'), DENIED_BY('*/forbidden')),
  job('that belongs to no repository', 'file', local('plain.bin'), /belongs to no repository, and this service serves only the repositories on its FERRY_ALLOWED_REPOS/),
  {
    name: 'refs of a denied repository',
    send: async (s) => readAnswer(await send(s.stack.api, { path: `/refs?url=${encodeURIComponent(`${s.git.url}/fixtures/secret`)}` })),
    status: 403,
    code: 'REPO_NOT_ALLOWED',
    message: DENIED_BY('fixtures/secret'),
  },
  {
    name: 'refs of a repository not on the allow list',
    send: async (s) => readAnswer(await send(s.stack.api, { path: `/refs?url=${encodeURIComponent('https://github.com/other/repo')}` })),
    status: 403,
    code: 'REPO_NOT_ALLOWED',
    message: NOT_ALLOWED,
  },
  job('of a denied repository with a token', 'archive', local('fixtures/secret'), DENIED_BY('fixtures/secret'), { token: 'ghp_AnyTokenDoesNotOpenADeniedRepo0000' }),
];

hostileTable('hostile repositories against the allow and deny lists', rows, () => stage.stage());
