import yazl from 'yazl';
import { buffer } from 'node:stream/consumers';

/** Builds a module zip in memory from files named relative to the module root. */
export async function makeModuleZip(
  modulePath: string,
  version: string,
  files: Record<string, string | Buffer>,
  rawNames = false,
): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const mtime = new Date('2020-01-01T00:00:00Z');
  for (const [name, data] of Object.entries(files)) {
    zip.addBuffer(
      Buffer.isBuffer(data) ? data : Buffer.from(data),
      rawNames ? name : `${modulePath}@${version}/${name}`,
      {
        mtime,
        compress: true,
      },
    );
  }
  zip.end();
  return buffer(zip.outputStream);
}
