// Hostile private-repository tokens (src/worker/git/access.ts, src/worker/jobs/request.ts) through the real local
// stack: the `token` body field and the x-ferry-git-token header, refused at submit with 400 INVALID_TOKEN when
// malformed (before any git request), a token in the URL refused as INVALID_URL, and a private repository (a git
// server behind basic auth) answered 404 REPO_NOT_FOUND without the token or with another one.
import { afterAll, beforeAll } from 'vitest';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { hostileTable, postJson, readAnswer, send, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

const TOKEN = 'ghp_HostileTableT0ken0123456789abcdefABCD';
const WRONG = 'ghp_NotTheTokenOfThisRepository000000000';

interface Target {
  hostile: HostileStack;
  /** `http://127.0.0.1:<port>/fixtures/basic` on a git server that answers 401 without TOKEN. */
  privateRepo: string;
}

let target: Target;
let hostile: HostileStack;
let privateGit: GitServer;
beforeAll(async () => {
  privateGit = await startGitServer({ root: await fixtureRoot(), auth: { owner: 'fixtures', password: TOKEN } });
  hostile = await startHostileStack({ allowHosts: [privateGit.host] });
  target = { hostile, privateRepo: `${privateGit.url}/fixtures/basic` };
});
afterAll(async () => {
  await hostile?.close();
  await privateGit?.close();
});

// Names the repository as private and what to send: a token that can read it, in the field or the header.
const PRIVATE = /private.*send a token that can read it \(the token field, the x-ferry-git-token header/;
const SHAPE = /Expected the token to be 1-1024 visible ASCII characters \(no spaces\)/;

function post(name: string, fields: (t: Target) => Record<string, unknown>, headers: Record<string, string>, status: number, code: string, message: RegExp, asksGit?: true): Row<Target> {
  return { name, send: (t) => postJson(t.hostile.stack.api, '/jobs', fields(t), headers), status, code, message, ...(asksGit && { asksGit }) };
}

/** A malformed `token` in the body of an archive job of the public repository. */
const body = (name: string, token: unknown): Row<Target> => post(`token ${name}`, (t) => ({ url: t.hostile.repo, token }), {}, 400, 'INVALID_TOKEN', SHAPE);
/** A malformed x-ferry-git-token header (only what node:http can put on the wire: no CR, LF or NUL). */
const header = (name: string, token: string): Row<Target> => post(`x-ferry-git-token ${name}`, (t) => ({ url: t.hostile.repo }), { 'x-ferry-git-token': token }, 400, 'INVALID_TOKEN', SHAPE);

const rows: Row<Target>[] = [
  body('as a number', 12345),
  body('as a list', [TOKEN]),
  body('as an object', { value: TOKEN }),
  body('null', null),
  body('empty', ''),
  body('of 1025 characters', 't'.repeat(1025)),
  body('as header injection', 'a\r\nX-Evil: 1'),
  body('with a newline', `${TOKEN}\n`),
  body('with a NUL', `ghp_a\u0000b`),
  body('with a space', 'ghp_a b'),
  body('with a tab', 'ghp_a\tb'),
  body('in another script', 'ghp_токен'),
  body('with an emoji', 'ghp_\u{1F511}'),
  header('with a space', 'ghp_a b'),
  header('with a tab', 'ghp_a\tb'),
  header('of 1025 characters', 'h'.repeat(1025)),
  header('in Latin-1', 'ghp_t\u00f6ken'),
  post('token in the body and another in the header', (t) => ({ url: t.hostile.repo, token: TOKEN }), { 'x-ferry-git-token': WRONG }, 400, 'INVALID_TOKEN', /`token` and the x-ferry-git-token header differ: send the token once/),
  post('token on a bundle, malformed', (t) => ({ kind: 'bundle', url: t.hostile.repo, token: 'a b' }), {}, 400, 'INVALID_TOKEN', SHAPE),
  post('token with a file job', (t) => ({ kind: 'file', url: `${t.hostile.repo}/raw/main/README.md`, token: TOKEN }), {}, 400, 'INVALID_TOKEN', /a file job fetches public files only: leave the token out/),
  post('x-ferry-git-token with a file job', (t) => ({ kind: 'file', url: `${t.hostile.repo}/raw/main/README.md` }), { 'x-ferry-git-token': TOKEN }, 400, 'INVALID_TOKEN', /leave the token out/),
  post('token as URL user and password', (t) => ({ url: t.privateRepo.replace('http://', `http://x-access-token:${TOKEN}@`) }), {}, 400, 'INVALID_URL', /Remove the user name or token from the URL: .*x-ferry-git-token/),
  post('token as URL user name', (t) => ({ url: t.privateRepo.replace('http://', `http://${TOKEN}@`) }), {}, 400, 'INVALID_URL', /Remove the user name or token from the URL/),
  post('token as URL user name on a bundle', (t) => ({ kind: 'bundle', url: t.privateRepo.replace('http://', `http://${TOKEN}:@`) }), {}, 400, 'INVALID_URL', /Remove the user name or token from the URL/),
  post('a private repository without a token', (t) => ({ url: t.privateRepo }), {}, 404, 'REPO_NOT_FOUND', PRIVATE, true),
  post('a private repository with another token in the body', (t) => ({ url: t.privateRepo, token: WRONG }), {}, 404, 'REPO_NOT_FOUND', PRIVATE, true),
  post('a private repository with another token in the header', (t) => ({ url: t.privateRepo }), { 'x-ferry-git-token': WRONG }, 404, 'REPO_NOT_FOUND', PRIVATE, true),
  post('a private repository as a bundle without a token', (t) => ({ kind: 'bundle', url: t.privateRepo }), {}, 404, 'REPO_NOT_FOUND', PRIVATE, true),
  {
    name: 'the refs of a private repository without a token',
    send: async (t) => readAnswer(await send(t.hostile.stack.api, { path: `/refs?url=${encodeURIComponent(t.privateRepo)}` })),
    status: 404,
    code: 'REPO_NOT_FOUND',
    message: PRIVATE,
    asksGit: true,
  },
  {
    name: 'the refs with a malformed x-ferry-git-token',
    send: async (t) => readAnswer(await send(t.hostile.stack.api, { path: `/refs?url=${encodeURIComponent(t.privateRepo)}`, headers: { 'x-ferry-git-token': 'a b' } })),
    status: 400,
    code: 'INVALID_TOKEN',
    message: SHAPE,
  },
];

hostileTable('hostile private-repository tokens', rows, () => {
  const stage = hostile.stage();
  // The private repository's token, and the other one, must never come back in an answer either.
  return { ...stage, target, gitRequests: () => stage.gitRequests() + privateGit.requests, secrets: { ...stage.secrets, 'git token': TOKEN, 'wrong git token': WRONG } };
});
