import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { escapePath, escapeVersion } from '../src/integrity/module.js';

/**
 * Writes a GOPROXY tree (list, .info, .mod, .zip) for one module whose zip holds
 * `totalBytes` of incompressible content in files of `fileBytes`, streamed to disk.
 */
export async function writeBigModule(
  dir: string,
  modulePath: string,
  version: string,
  totalBytes: number,
  fileBytes = 8 << 20,
): Promise<string> {
  const base = path.join(dir, escapePath(modulePath), '@v');
  await mkdir(base, { recursive: true });
  const gomod = `module ${modulePath}\n`;
  await writeFile(path.join(base, 'list'), `${version}\n`);
  await writeFile(
    path.join(base, `${escapeVersion(version)}.info`),
    JSON.stringify({ Version: version, Time: '2024-01-01T00:00:00Z' }),
  );
  await writeFile(path.join(base, `${escapeVersion(version)}.mod`), gomod);
  const zip = new yazl.ZipFile();
  const prefix = `${modulePath}@${version}/`;
  zip.addBuffer(Buffer.from(gomod), `${prefix}go.mod`);
  const block = randomBytes(1 << 20);
  for (let i = 0, left = totalBytes; left > 0; i++) {
    const size = Math.min(fileBytes, left);
    left -= size;
    zip.addReadStream(
      pattern(block, size, i),
      `${prefix}data/blob${String(i).padStart(4, '0')}.bin`,
      { size, compress: true },
    );
  }
  zip.end();
  const file = path.join(base, `${escapeVersion(version)}.zip`);
  await pipeline(zip.outputStream, createWriteStream(file));
  return file;
}

function pattern(block: Buffer, size: number, seed: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(block.length, size - sent);
      const chunk = Buffer.from(block.subarray(0, n));
      chunk.writeUInt32LE(seed, 0);
      chunk.writeUInt32LE(sent, 4);
      sent += n;
      this.push(chunk);
    },
  });
}
