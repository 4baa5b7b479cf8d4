import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ZipArchive } from 'archiver';

// Each file's mode is kept: FC runs `bootstrap` and the layer's binaries straight from what it unpacks,
// so their exec bits must survive.
export async function zipDirectory(dir: string, zipPath: string): Promise<number> {
  const archive = new ZipArchive({ zlib: { level: 9 } });
  const output = createWriteStream(zipPath);
  const done = new Promise<void>((resolve, reject) => {
    output.on('close', resolve);
    output.on('error', reject);
    archive.on('error', reject);
  });
  archive.pipe(output);
  archive.directory(dir, false);
  await archive.finalize();
  await done;
  return (await stat(zipPath)).size;
}
