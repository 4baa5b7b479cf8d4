/**
 * The in-process ls-refs path against GitHub itself: the one host whose answers matter most and that no
 * local fixture can stand in for. Tests never reach the internet by default; run with
 * FERRY_TEST_GITHUB=1 (and network) to check that GitHub answers the stateless v2 request cleanly,
 * with the same refs as `git ls-remote`.
 */
import { describe, expect, it } from 'vitest';
import { createHttpAgents } from '../../../src/worker/git/http-agents.js';
import { lsRefsV2 } from '../../../src/worker/git/ls-refs.js';
import { parseLsRemote } from '../../../src/protocol/refs.js';
import { git } from '../../helpers/fixtures.js';
const REPO = 'https://github.com/expressjs/express.git';

describe.skipIf(process.env.FERRY_TEST_GITHUB !== '1')('ls-refs against github.com (FERRY_TEST_GITHUB=1)', () => {
  it.each([[['HEAD']], [['refs/heads/master', 'refs/tags/4.18.2', 'refs/tags/4.18.2^{}']]])('%j: a clean v2 answer, as git ls-remote lists it', async (patterns) => {
    const fast = await lsRefsV2(REPO, patterns, { timeoutMs: 20_000, agents: createHttpAgents() });
    expect(fast).toBeDefined();
    const stdout = await git(['ls-remote', '--symref', '--', REPO, ...patterns]);
    const byName = (refs: { name: string }[]) => [...refs].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName(fast ?? [])).toEqual(byName(parseLsRemote(stdout)));
  }, 90_000);
});
