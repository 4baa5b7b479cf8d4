import { createHash } from 'node:crypto';
import type { ObjectStore } from '../../src/worker/storage/oss-store.js';

/** An in-memory object store implementing the whole interface, with a log of the writes in order. */
export class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  readonly writes: string[] = [];
  reads = 0;
  readonly #uploads = new Map<string, Map<number, Buffer>>();

  async put(key: string, body: Buffer): Promise<void> {
    this.objects.set(key, body);
    this.writes.push(key);
  }

  async getText(key: string): Promise<string | undefined> {
    this.reads++;
    return this.objects.get(key)?.toString('utf8');
  }

  async initMultipart(key: string): Promise<string> {
    const id = `${key}#${this.#uploads.size}`;
    this.#uploads.set(id, new Map());
    return id;
  }

  async uploadPart(_key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    this.#uploads.get(uploadId)?.set(partNumber, body);
    return createHash('md5').update(body).digest('hex');
  }

  async completeMultipart(key: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<void> {
    const uploaded = this.#uploads.get(uploadId);
    await this.put(key, Buffer.concat(parts.map((part) => uploaded?.get(part.number) ?? Buffer.alloc(0))));
    this.#uploads.delete(uploadId);
  }

  async abortMultipart(_key: string, uploadId: string): Promise<void> {
    this.#uploads.delete(uploadId);
  }

  async signGetUrl(key: string, expiresSeconds: number): Promise<string> {
    return `https://store.invalid/${key}?expires=${expiresSeconds}`;
  }
}
