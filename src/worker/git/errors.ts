import { FerryError } from '../../protocol/errors.js';
import { describeCause, type UpstreamCause } from '../upstream-cause.js';
import { markTransient } from '../upstream-retry.js';

/**
 * git's stderr as a FerryError that keeps the cause: `Could not resolve host` is not `refused` is not
 * `answered 500`. `host` names the upstream in the message (else it is read from git's own URL).
 */
export function gitFailure(stderr: string, what: string, cause?: unknown, host?: string): FerryError {
  const text = stderr.toLowerCase();
  const where = host ?? hostInStderr(stderr) ?? 'the git host';
  const status = /the requested url returned error: (\d{3})/.exec(text)?.[1];
  if (status !== undefined) return statusFailure(Number(status), what, where, cause);
  if (/repository '.*' not found|repository not found/.test(text)) {
    return new FerryError('REPO_NOT_FOUND', `${what}: the repository does not exist or is private. Check the URL.`, { cause });
  }
  if (/could not read username|could not read password|authentication failed|terminal prompts disabled/.test(text)) {
    return new FerryError('REPO_NOT_FOUND', `${what}: ${where} asks for a login, so the repository does not exist or is private (or the token sent cannot read it). Check the URL; for a private repository send a token that can read it (the token field, the x-ferry-git-token header, FERRY_GIT_TOKEN for ferry get).`, { cause });
  }
  // Before the network causes: a reset mid-pack is a cut answer, not a host that cannot be reached.
  // Our own disk, not the upstream: git's cut-stream words that follow it must not make it look transient.
  if (/no space left on device/.test(text)) return new FerryError('GIT_FAILED', `${what}: git failed (${firstLine(stderr)}).`, { cause });
  if (TRUNCATED.test(text)) {
    const error = new FerryError('UPSTREAM_TRUNCATED', `${what}: ${where} cut its answer short (${firstLine(stderr)}). This is usually transient: try again.`, { cause });
    return markTransient(error, 'cut the connection');
  }
  const network = networkCause(stderr, text);
  if (network) {
    const error = new FerryError('UPSTREAM_UNREACHABLE', `${what}: ${describeCause(network, where)}`, { cause });
    if (network.kind === 'timeout') return markTransient(error, 'timed out');
    return network.kind === 'reset' ? markTransient(error, 'cut the connection') : error;
  }
  return new FerryError('GIT_FAILED', `${what}: git failed (${firstLine(stderr)}).`, { cause });
}

function statusFailure(status: number, what: string, host: string, cause: unknown): FerryError {
  const said = `${what}: ${host} answered HTTP ${status}`;
  if (status === 404 || status === 410) return new FerryError('REPO_NOT_FOUND', `${said}: the repository does not exist or is private. Check the URL.`, { cause });
  if (status === 401 || status === 403) {
    return new FerryError('REPO_NOT_FOUND', `${said}: the repository is private or needs a login: send a token that can read it (the token field, the x-ferry-git-token header, FERRY_GIT_TOKEN for ferry get).`, { cause });
  }
  if (status === 429) return new FerryError('RATE_LIMITED', `${said}: the host limits how often it is asked. Try again later.`, { cause });
  if (status >= 500) {
    return markTransient(new FerryError('UPSTREAM_UNREACHABLE', `${said}, a server error on its side. Try again later.`, { cause }), 'answered a server error');
  }
  if (status >= 300 && status < 400) {
    return new FerryError('UPSTREAM_UNREACHABLE', `${said}, a redirect, which ferry does not follow for git: use the repository's final URL.`, { cause });
  }
  return new FerryError('UPSTREAM_UNREACHABLE', `${said}, which is not a git answer ferry can use. Check the URL.`, { cause });
}

// An answer that began and then broke off: git's protocol parsers meeting the end of a cut stream
// (`expected flush after ref listing`, `expected 'packfile'`, `early EOF`), and curl's own words for a
// body that ended or was reset part way (curl 18, 52, 56; HTTP/2 streams not closed cleanly).
const TRUNCATED = new RegExp(
  [
    'early eof',
    'unexpected disconnect',
    'expected flush',
    "expected 'packfile'",
    'expected response end packet',
    'bytes of length header were received',
    'bytes of body are still expected',
    'the remote end hung up',
    'rpc failed',
    'transfer closed with',
    'empty reply from server',
    'recv failure',
    'connection reset',
    'stream was not closed cleanly',
    'protocol error: bad pack header',
    'curl 18',
    'curl 56',
  ]
    .map((phrase) => phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('|'),
);

// curl's wording as git prints it (git 2.39 / curl 7.88; older curls say `Connection refused` etc.).
function networkCause(stderr: string, text: string): UpstreamCause | undefined {
  if (/could not resolve proxy|from proxy after connect|proxy connect aborted|unable to connect to proxy/.test(text)) {
    return { kind: 'proxy', detail: firstLine(stderr) };
  }
  const unresolved = /could not resolve host: ([^\s'"]+)/i.exec(stderr);
  if (unresolved) return { kind: 'dns', name: unresolved[1] as string };
  if (/timed out|timeout/.test(text)) return { kind: 'timeout' };
  if (/no route to host|network is unreachable|host is unreachable/.test(text)) return { kind: 'no-route' };
  if (/connection refused|couldn't connect to server/.test(text)) return { kind: 'refused' };
  if (/ssl|tls|certificate|gnutls/.test(text)) return { kind: 'tls', detail: firstLine(stderr).replace(/^unable to access '[^']*':\s*/i, '') };
  if (/connection reset|early eof|remote end hung up|rpc failed|recv failure|stream was not closed|transfer closed/.test(text)) {
    return { kind: 'reset', detail: firstLine(stderr).replace(/^unable to access '[^']*':\s*/i, '') };
  }
  if (/unable to access|failed to connect/.test(text)) return { kind: 'other', detail: firstLine(stderr).replace(/^unable to access '[^']*':\s*/i, '') };
  return undefined;
}

/** `host[:port]` of the URL git names in `unable to access '<url>'` or `repository '<url>'`. */
function hostInStderr(stderr: string): string | undefined {
  const quoted = /'(https?:\/\/[^']+)'/.exec(stderr)?.[1];
  if (!quoted) return undefined;
  try {
    return new URL(quoted).host;
  } catch {
    return undefined;
  }
}

function firstLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => /fatal|error/i.test(l)) ?? stderr.split('\n')[0] ?? '';
  return line.replace(/^(fatal|error):\s*/i, '').slice(0, 200);
}
