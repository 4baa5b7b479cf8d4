import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Credentials } from '../protocol/credentials.js';

/** Development secrets for the local stack: made once per data dir, kept beside the data (mode 0600). */
export interface LocalCredentials {
  appKey: string;
  appSecret: string;
  /** The AccessKey the local OSS store accepts and the FC emulator hands the worker. */
  accessKey: Credentials;
  dispatchSecret: string;
}

/** As written before the AccessKey had a type of its own; still read, so a data dir keeps its secrets. */
interface FlatLocalCredentials {
  ossAccessKeyId: string;
  ossAccessKeySecret: string;
}

export async function loadOrCreateCredentials(dataDir: string): Promise<LocalCredentials> {
  const file = join(dataDir, 'credentials.json');
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as Partial<LocalCredentials & FlatLocalCredentials>;
    const accessKey =
      stored.accessKey ??
      (stored.ossAccessKeyId && stored.ossAccessKeySecret ? { accessKeyId: stored.ossAccessKeyId, accessKeySecret: stored.ossAccessKeySecret } : undefined);
    if (stored.appKey && stored.appSecret && accessKey?.accessKeyId && accessKey.accessKeySecret && stored.dispatchSecret) {
      return { appKey: stored.appKey, appSecret: stored.appSecret, accessKey, dispatchSecret: stored.dispatchSecret };
    }
  } catch {
    // missing or unreadable: make new ones below
  }
  const token = (bytes: number): string => randomBytes(bytes).toString('base64url');
  const credentials: LocalCredentials = {
    appKey: `dev${randomBytes(4).toString('hex')}`,
    appSecret: token(24),
    accessKey: { accessKeyId: `LTAIdev${randomBytes(6).toString('hex')}`, accessKeySecret: token(24) },
    dispatchSecret: token(32),
  };
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return credentials;
}
