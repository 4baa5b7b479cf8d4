// A private repository's token on the client: from the environment only, never from a URL (a URL with
// userinfo is refused by the worker). Only FERRY_GIT_TOKEN is read, not GH_TOKEN or GITHUB_TOKEN: a token
// goes to whoever runs the ferry service, so sending one is the user's explicit choice.
export const GIT_TOKEN_HEADER = 'x-ferry-git-token';

export function gitTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.FERRY_GIT_TOKEN?.trim();
  return value ? value : undefined;
}
