// The commands a user may want once an artifact is ready, for the CLI's last lines and the page's card.
// No Node APIs: the page imports the compiled module.

export interface NextCommands {
  /** Fetch the signed link from a shell. */
  curl: string;
  wget: string;
  /** A repository only: clone it through ferry (git-remote-ferry). */
  clone: string | undefined;
}

/** `repo`: the repository's URL, or undefined for a file. */
export function nextCommands(link: { filename: string; url: string }, repo: string | undefined): NextCommands {
  const file = shellQuote(link.filename);
  const url = shellQuote(link.url);
  return {
    curl: `curl -fL -o ${file} ${url}`,
    wget: `wget -O ${file} ${url}`,
    clone: repo !== undefined && /^https?:\/\//.test(repo) ? `git clone ferry::${repo}` : undefined,
  };
}

/** A string as one POSIX shell word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
