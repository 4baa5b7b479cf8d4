import { FerryError } from '../../protocol/errors.js';

export function gitFailure(stderr: string, what: string, cause?: unknown): FerryError {
  const text = stderr.toLowerCase();
  if (/repository .* not found|not found|could not read username|authentication failed|terminal prompts disabled|403/.test(text)) {
    return new FerryError('REPO_NOT_FOUND', `${what}: the repository does not exist or is private. Check the URL.`, { cause });
  }
  if (/could not resolve|failed to connect|connection refused|timed out|timeout|ssl|tls|unable to access|early eof|remote end hung up|redirect/.test(text)) {
    return new FerryError('UPSTREAM_UNREACHABLE', `${what}: the git host could not be reached. Try again later.`, { cause });
  }
  return new FerryError('GIT_FAILED', `${what}: git failed (${firstLine(stderr)}).`, { cause });
}

function firstLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => /fatal|error/i.test(l)) ?? stderr.split('\n')[0] ?? '';
  return line.replace(/^(fatal|error):\s*/i, '').slice(0, 200);
}
