// A private repository's token on the client: from the environment only, never from a URL (a URL with
// userinfo is refused by the worker). Only FERRY_GIT_TOKEN is read, not GH_TOKEN or GITHUB_TOKEN: a token
// goes to whoever runs the ferry service, so sending one is the user's explicit choice.

export function gitTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.FERRY_GIT_TOKEN?.trim();
  return value ? value : undefined;
}

/**
 * The token git's own credential helper keeps for the repository's host (`git credential fill`, as `git clone`
 * would ask it): only on request (`ferry get --token-from-git`), never a prompt (GIT_TERMINAL_PROMPT=0).
 * Undefined when no helper has a password for it.
 */
export async function gitCredentialToken(repoUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const url = new URL(repoUrl);
  const request = `protocol=${url.protocol.slice(0, -1)}\nhost=${url.host}\npath=${url.pathname.replace(/^\/+/, '')}\n\n`;
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn('git', ['credential', 'fill'], { env: { ...env, GIT_TERMINAL_PROMPT: '0', GCM_INTERACTIVE: 'never' }, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      const password = out.split('\n').find((line) => line.startsWith('password='))?.slice('password='.length);
      resolve(code === 0 && password ? password : undefined);
    });
    child.stdin.end(request);
  });
}
