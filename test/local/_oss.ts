import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import OSS from 'ali-oss';
import type { OssServer } from '../../src/local/oss/index.js';

// Helpers shared by the oss-*.test.ts files that drive multipart objects through ali-oss.

export const KEY = { accessKeyId: 'LTAI-local-test', accessKeySecret: 'local-secret' };
export const KB = 1024;

/** Signed V4, as the worker's client is: the store verifies nothing else. */
export function clientOf(server: OssServer, bucket: string): OSS {
  return new OSS({ endpoint: server.endpoint, region: server.region, bucket, ...KEY, authorizationV4: true });
}

/** Path-style on a host name: what ali-oss needs to put the bucket in a signed URL. */
export function pathClientOf(server: OssServer, bucket: string): OSS {
  return new OSS({ endpoint: server.pathStyleEndpoint, region: server.region, bucket, ...KEY, authorizationV4: true, sldEnable: true } as OSS.Options);
}

/** A V4 signed GET URL for `key`, as the worker signs download URLs. */
export function signedGet(oss: OSS, key: string, queries: Record<string, string> = {}, expires = 600): Promise<string> {
  return oss.signatureUrlV4('GET', expires, { headers: {}, queries }, key);
}

export async function errorOf(promise: Promise<unknown>): Promise<{ code?: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; status?: number };
  }
  throw new Error('expected the call to fail');
}

const md5 = (data: Buffer): Buffer => createHash('md5').update(data).digest();
export const multipartEtag = (parts: Buffer[]): string => `"${md5(Buffer.concat(parts.map(md5))).toString('hex').toUpperCase()}-${parts.length}"`;
export const fileIdOf = (key: string): string => createHash('sha256').update(key).digest('hex');

/** Three parts as OSS requires them (100 KB+ but the last), the last of a random size. */
export const threeParts = (): Buffer[] => [randomBytes(150 * KB), randomBytes(150 * KB), randomBytes(randomInt(1, 150 * KB))];

/** Initiates an upload and uploads `parts` (ali-oss reads parts from a file); completing is left to the caller. */
export async function uploadParts(oss: OSS, key: string, parts: Buffer[], init: OSS.InitMultipartUploadOptions = {}) {
  const { uploadId } = await oss.initMultipartUpload(key, init);
  const scratch = await mkdtemp(join(tmpdir(), 'ferry-oss-parts-'));
  const file = join(scratch, 'parts.bin');
  await writeFile(file, Buffer.concat(parts));
  const done: { number: number; etag: string }[] = [];
  try {
    let offset = 0;
    for (const [index, part] of parts.entries()) {
      const result = await oss.uploadPart(key, uploadId, index + 1, file, offset, offset + part.length);
      done.push({ number: index + 1, etag: result.etag });
      offset += part.length;
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { uploadId, done };
}

export async function putMultipart(oss: OSS, key: string, parts: Buffer[], init: OSS.InitMultipartUploadOptions = {}): Promise<void> {
  const { uploadId, done } = await uploadParts(oss, key, parts, init);
  await oss.completeMultipartUpload(key, uploadId, done);
}

/** The key's files in the bucket folder, hash and random names masked: `K.json`, `K.*.parts/1.*.bin` … */
export async function filesOf(bucketDir: string, key: string): Promise<string[]> {
  const id = fileIdOf(key);
  const names: string[] = [];
  for (const name of (await readdir(bucketDir)).filter((entry) => entry.startsWith(`${id}.`))) {
    const inside = (await stat(join(bucketDir, name))).isDirectory() ? (await readdir(join(bucketDir, name))).map((file) => `${name}/${file}`) : [name];
    names.push(...inside);
  }
  return names.map((name) => name.replace(id, 'K').replace(/[0-9a-f]{16}/g, '*')).sort();
}

export const PARTS_ON_DISK = ['K.*.parts/1.*.bin', 'K.*.parts/2.*.bin', 'K.*.parts/3.*.bin', 'K.json'];

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Descriptors this process holds, where /proc tells (Linux); `undefined` elsewhere. */
export async function openDescriptors(): Promise<number | undefined> {
  const entries = await readdir('/proc/self/fd').catch(() => undefined);
  return entries?.length;
}
