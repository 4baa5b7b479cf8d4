// A private repository's token: checked at the edge, kept out of argv, logs, job state and object keys. git gets
// it only as an `http.extraHeader` in GIT_CONFIG_* environment; node's requests as an Authorization header. What
// names the token anywhere (mirror dirs, cache keys, object keys) is an HMAC of it under a deployment secret.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { FerryError } from '../../protocol/errors.js';
import { GIT_TOKEN_HEADER } from '../../protocol/git-token.js';

const MAX_TOKEN_LENGTH = 1024;
// Visible ASCII only: no spaces, no control characters, nothing that could end a header line.
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** The token of one request, bound to the deployment secret that scopes what it builds. */
export class RepoAccess {
  readonly #token: string;
  /** HMAC-SHA256(scope key, token), 32 hex digits: names this token's mirrors and artifacts. */
  readonly scope: string;

  constructor(token: string, secret: string) {
    this.#token = token;
    this.scope = createHmac('sha256', derive(secret, 'ferry token scope')).update(token).digest('hex').slice(0, 32);
  }

  /**
   * Basic auth with any user and the token as password is what GitHub (and GitLab, Gitea, Bitbucket app
   * passwords aside) take from git over HTTPS; the user name is GitHub's convention for tokens.
   */
  authorization(): string {
    return `Basic ${Buffer.from(`x-access-token:${this.#token}`).toString('base64')}`;
  }

  /** The GIT_CONFIG_* entries that make git send the header: environment only, never argv. */
  gitConfig(): [string, string][] {
    return [['http.extraHeader', `Authorization: ${this.authorization()}`]];
  }

  /** Sealed for a job event (AES-256-GCM under a key derived from the dispatch secret). */
  seal(secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', derive(secret, 'ferry token seal'), iv);
    const sealed = Buffer.concat([cipher.update(this.#token, 'utf8'), cipher.final()]);
    return [iv, cipher.getAuthTag(), sealed].map((part) => part.toString('base64url')).join('.');
  }

  // Whatever serialises or prints a RepoRef shows the scope, never the token.
  toJSON(): { scope: string } {
    return { scope: this.scope };
  }

  toString(): string {
    return `[token ${this.scope.slice(0, 8)}]`;
  }
}

/**
 * The token a request brings (body `token` or header), checked; undefined when none. `secret` is the
 * deployment's (FERRY_DISPATCH_SECRET): without one, this worker cannot scope what a token builds, so it takes none.
 */
export function requestAccess(bodyValue: unknown, headerValue: string | null | undefined, secret: string | undefined): RepoAccess | undefined {
  const header = headerValue ?? undefined;
  if (bodyValue === undefined && (header === undefined || header === '')) return undefined;
  if (bodyValue !== undefined && header !== undefined && header !== '' && bodyValue !== header) {
    throw new FerryError('INVALID_TOKEN', `\`token\` and the ${GIT_TOKEN_HEADER} header differ: send the token once.`);
  }
  const token = bodyValue ?? header;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH || !VISIBLE_ASCII.test(token)) {
    throw new FerryError('INVALID_TOKEN', `Expected the token to be 1-${MAX_TOKEN_LENGTH} visible ASCII characters (no spaces), such as a GitHub personal access token.`);
  }
  if (!secret) {
    throw new FerryError('INVALID_TOKEN', 'This service takes no tokens (its operator has not set FERRY_DISPATCH_SECRET, which scopes what a token builds): it fetches public repositories only.');
  }
  return new RepoAccess(token, secret);
}

/** A sealed token from a job event, opened; a token sealed under another secret or tampered with is refused. */
export function openAccess(sealed: string, secret: string | undefined): RepoAccess {
  const [iv, tag, data, ...rest] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
  if (!secret || !iv || !tag || !data || rest.length > 0 || iv.length !== 12 || tag.length !== 16) {
    throw new FerryError('BAD_REQUEST', 'The job event\'s token cannot be opened by this worker.');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', derive(secret, 'ferry token seal'), iv);
    decipher.setAuthTag(tag);
    return new RepoAccess(Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8'), secret);
  } catch {
    throw new FerryError('BAD_REQUEST', 'The job event\'s token cannot be opened by this worker.');
  }
}

/** The token's lifetime for signed URLs: short, since a URL is readable by whoever holds it. */
export const TOKENED_URL_TTL_SECONDS = 600;

function derive(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'ferry', purpose, 32));
}
