import { open } from 'node:fs/promises';

export interface ElfInfo {
  /** DT_NEEDED: the sonames it loads. */
  needed: string[];
  soname: string | undefined;
}

const PT_DYNAMIC = 2;
const PT_LOAD = 1;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;

// 64-bit little-endian only (FC's x86_64 runtime): enough to check that a layer carries every library
// its binaries load, without running them or trusting the build host's `ldd`.
export async function readElf(path: string): Promise<ElfInfo | undefined> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    if (size < 64) return undefined;
    const { buffer } = await file.read({ buffer: Buffer.alloc(size), position: 0 });
    if (buffer.readUInt32BE(0) !== 0x7f454c46 || buffer[4] !== 2 || buffer[5] !== 1) return undefined;

    const phoff = Number(buffer.readBigUInt64LE(0x20));
    const phentsize = buffer.readUInt16LE(0x36);
    const phnum = buffer.readUInt16LE(0x38);
    const loads: { vaddr: number; offset: number; filesz: number }[] = [];
    let dynamic: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize;
      const type = buffer.readUInt32LE(at);
      const offset = Number(buffer.readBigUInt64LE(at + 8));
      const vaddr = Number(buffer.readBigUInt64LE(at + 16));
      const filesz = Number(buffer.readBigUInt64LE(at + 32));
      if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
      if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
    }
    if (!dynamic) return { needed: [], soname: undefined }; // static

    const entries: { tag: number; value: number }[] = [];
    for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
      const tag = Number(buffer.readBigInt64LE(at));
      if (tag === 0) break;
      entries.push({ tag, value: Number(buffer.readBigUInt64LE(at + 8)) });
    }
    // DT_STRTAB holds a virtual address: map it back to a file offset through the load segments.
    const strtabAddress = entries.find((entry) => entry.tag === DT_STRTAB)?.value ?? 0;
    const segment = loads.find((load) => strtabAddress >= load.vaddr && strtabAddress < load.vaddr + load.filesz);
    if (!segment) return undefined;
    const strtab = strtabAddress - segment.vaddr + segment.offset;
    const text = (offset: number): string => {
      const start = strtab + offset;
      return buffer.toString('latin1', start, buffer.indexOf(0, start));
    };
    return {
      needed: entries.filter((entry) => entry.tag === DT_NEEDED).map((entry) => text(entry.value)),
      soname: entries.filter((entry) => entry.tag === DT_SONAME).map((entry) => text(entry.value))[0],
    };
  } finally {
    await file.close();
  }
}
