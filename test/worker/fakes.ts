import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ListedObject, ObjectStore } from '../../src/worker/storage/oss-store.js';

/** An in-memory object store implementing the whole interface, with a log of the writes in order. */
export class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  readonly writes: string[] = [];
  reads = 0;
  readonly #uploads = new Map<string, Map<number, Buffer>>();
  /** When each key was last written, for `list`. */
  readonly #modified = new Map<string, number>();

  async put(key: string, body: Buffer): Promise<void> {
    this.objects.set(key, body);
    this.#modified.set(key, Date.now());
    this.writes.push(key);
  }

  async putIfAbsent(key: string, body: Buffer): Promise<boolean> {
    if (this.objects.has(key)) return false;
    await this.put(key, body);
    return true;
  }

  async getStream(key: string): Promise<Readable | undefined> {
    this.reads++;
    const body = this.objects.get(key);
    return body && Readable.from([body]);
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
    this.#modified.delete(key);
  }

  async list(prefix: string): Promise<ListedObject[]> {
    return [...this.objects]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([key, body]) => ({ key, lastModified: this.#modified.get(key) ?? 0, size: body.length }));
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
