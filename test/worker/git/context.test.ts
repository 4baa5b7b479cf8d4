import { describe, expect, it } from 'vitest';
import { createGitContext } from '../../../src/worker/git/context.js';

describe('the git context', () => {
  it('derives git’s environment from the process environment it is given', () => {
    const context = createGitContext({ allowHttp: true, timeoutMs: 1000, processEnv: { PATH: '/opt/git/bin', HOME: '/home/ferry', GIT_DIR: '/elsewhere' } });
    expect(context.env).toMatchObject({ PATH: '/opt/git/bin', HOME: '/home/ferry', GIT_TERMINAL_PROMPT: '0' });
    // Only what env.ts passes on: a user's git variables never reach git.
    expect(context.env.GIT_DIR).toBeUndefined();
    const protocols = Object.entries(context.env).filter(([name, value]) => name.startsWith('GIT_CONFIG_KEY_') && value === 'protocol.http.allow');
    expect(protocols).toHaveLength(1);
  });

  it('keeps what it learns to itself: two contexts share no pools and no fallback memory', () => {
    const one = createGitContext({ allowHttp: false, timeoutMs: 1000 });
    const two = createGitContext({ allowHttp: false, timeoutMs: 1000 });
    one.fellBack.add('example.com');
    expect(two.fellBack.has('example.com')).toBe(false);
    expect(one.agents.agentFor('https:')).not.toBe(two.agents.agentFor('https:'));
    expect(one.agents.agentFor('https:')).toBe(one.agents.agentFor('https:'));
    one.agents.destroy();
    two.agents.destroy();
  });

  it('detects the archive transport once, or takes the one it is given', () => {
    expect(createGitContext({ allowHttp: false, timeoutMs: 1000, transport: 'dd' }).transport()).toBe('dd');
    const context = createGitContext({ allowHttp: false, timeoutMs: 1000 });
    expect(context.transport()).toBe(context.transport());
  });
});
