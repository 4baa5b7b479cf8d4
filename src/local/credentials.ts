import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Development secrets for the local stack: made once per data dir, kept beside the data (mode 0600). */
export interface LocalCredentials {
  appKey: string;
  appSecret: string;
  ossAccessKeyId: string;
  ossAccessKeySecret: string;
  dispatchSecret: string;
}

export async function loadOrCreateCredentials(dataDir: string): Promise<LocalCredentials> {
  const file = join(dataDir, 'credentials.json');
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as Partial<LocalCredentials>;
    if (stored.appKey && stored.appSecret && stored.ossAccessKeyId && stored.ossAccessKeySecret && stored.dispatchSecret) {
      return stored as LocalCredentials;
    }
  } catch {
    // missing or unreadable: make new ones below
  }
  const token = (bytes: number): string => randomBytes(bytes).toString('base64url');
  const credentials: LocalCredentials = {
    appKey: `dev${randomBytes(4).toString('hex')}`,
    appSecret: token(24),
    ossAccessKeyId: `LTAIdev${randomBytes(6).toString('hex')}`,
    ossAccessKeySecret: token(24),
    dispatchSecret: token(32),
  };
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return credentials;
}
