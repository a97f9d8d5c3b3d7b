import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hashZipFile } from '../../src/integrity/zip.js';
import type { FakeModule } from './fake-upstream.js';

/** The go.sum line of a fake module's zip, with its real h1 (the zip is written into dir to hash it). */
export async function goSumLine(dir: string, m: FakeModule): Promise<string> {
  const file = path.join(dir, `${m.path.replace(/\W/g, '_')}-${m.version}.zip`);
  await writeFile(file, m.zip);
  return `${m.path} ${m.version} ${await hashZipFile(file)}`;
}
