// One place that decides what a log line may not carry: the secrets a process was given (by value), and the
// parts of any URL that grant access by themselves (a presigned URL's signature and token, a password in the
// userinfo). A user's presigned file URL is their capability; the logs keep which file, not the key to it.

export const REDACTED = 'REDACTED';

/**
 * Query parameters whose value is a signature, a token or a secret: OSS (V1 `Signature`, V4 `x-oss-signature`,
 * `security-token`), S3 and GCS presigning, Azure SAS (`sig`), and the usual bearer-token names.
 */
const SECRET_PARAMS = new Set([
  'signature',
  'x-oss-signature',
  'security-token',
  'x-oss-security-token',
  'x-amz-signature',
  'x-amz-security-token',
  'x-goog-signature',
  'x-goog-credential',
  'sig',
  'token',
  'access_token',
  'auth',
  'password',
  'secret',
]);

// A query parameter anywhere in free text: `?name=value` or `&name=value`, the value up to the next separator.
const QUERY_PARAM = /([?&])([A-Za-z0-9_.-]+)=([^&\s"'<>#]*)/g;
// `scheme://user:password@host`: the password goes, the user stays (it names the account, not the key).
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@"'<>]*:)([^\s/@"'<>]+)(@)/gi;
// Shorter values could be common words: a secret worth the name is longer.
const MIN_SECRET_LENGTH = 8;

/** `text` with every URL's signature, token and password replaced by `REDACTED`. */
export function redactUrls(text: string): string {
  return text
    .replace(QUERY_PARAM, (whole, separator: string, name: string, value: string) =>
      value !== '' && SECRET_PARAMS.has(name.toLowerCase()) ? `${separator}${name}=${REDACTED}` : whole,
    )
    .replace(URL_PASSWORD, `$1${REDACTED}$3`);
}

/**
 * A function that redacts log lines: every value of `secrets` (those of at least 8 characters; `undefined`s
 * ignored) and every URL's credentials. Known values go first, so a secret inside a URL is caught either way.
 */
export function createRedactor(secrets: ReadonlyArray<string | undefined>): (line: string) => string {
  // Longest first, so a secret that contains another is replaced whole.
  const values = [...new Set(secrets.filter((value): value is string => value !== undefined && value.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
  return (line) => {
    let redacted = line;
    for (const value of values) if (redacted.includes(value)) redacted = redacted.split(value).join(REDACTED);
    return redactUrls(redacted);
  };
}
