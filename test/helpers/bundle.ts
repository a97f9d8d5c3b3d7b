import { buffer } from 'node:stream/consumers';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

/** A gzipped tar, as `opa build` writes policy bundles. */
export async function bundle(files: Record<string, Buffer | string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, data] of Object.entries(files)) pack.entry({ name }, data);
  pack.finalize();
  return buffer(pack.pipe(createGzip()));
}
