import type { IncomingMessage } from 'node:http';

// What the test git server sent to fetches: every upload-pack response is recorded, and the pack in it
// (if any) is found by walking its pkt-lines. A pack's header states how many objects follow, so a test
// can tell a full clone from a fetch of only new objects without timing anything.

/** Records upload-pack responses; pass `tap` as the git server's `tapResponse`. */
export class ServedPacks {
  readonly #responses: Buffer[][] = [];

  readonly tap = (req: IncomingMessage): ((chunk: Buffer) => void) | undefined => {
    if (req.method !== 'POST' || !req.url?.endsWith('/git-upload-pack')) return undefined;
    const chunks: Buffer[] = [];
    this.#responses.push(chunks);
    return (chunk) => void chunks.push(chunk);
  };

  /** The object count of every pack sent so far, in order (ls-refs and negotiation rounds send none). */
  objectCounts(): number[] {
    return this.#responses.map((chunks) => packObjectCount(Buffer.concat(chunks))).filter((count): count is number => count !== undefined);
  }
}

/**
 * The object count in the pack header of an upload-pack response, or undefined when it carries no
 * pack. Protocol v2 sends a `packfile` section line, then the pack on side-band 1 (2 and 3 are
 * progress and errors); a v0 side-band response starts band 1 with the pack at once.
 */
export function packObjectCount(body: Buffer): number | undefined {
  const pack: Buffer[] = [];
  let inPack = false;
  for (let at = 0; at + 4 <= body.length; ) {
    const length = Number.parseInt(body.subarray(at, at + 4).toString('latin1'), 16);
    if (!Number.isFinite(length)) break;
    if (length < 4) {
      at += 4; // flush, delimiter or response-end packet
      continue;
    }
    const payload = body.subarray(at + 4, at + length);
    at += length;
    if (!inPack && payload.toString('latin1') === 'packfile\n') inPack = true;
    else if (payload[0] === 1 && (inPack || payload.subarray(1, 5).toString('latin1') === 'PACK')) {
      inPack = true;
      pack.push(payload.subarray(1));
    }
  }
  const header = Buffer.concat(pack).subarray(0, 12);
  if (header.length < 12 || header.subarray(0, 4).toString('latin1') !== 'PACK') return undefined;
  return header.readUInt32BE(8);
}
