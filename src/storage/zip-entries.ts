import type yauzl from 'yauzl';

/**
 * The entries of a zip opened with `lazyEntries: true`, one at a time, as an
 * async iterator. The caller reads (or skips) each entry before asking for the
 * next, and closes the zip itself.
 */
export async function* zipEntries(zip: yauzl.ZipFile): AsyncGenerator<yauzl.Entry> {
  for (;;) {
    const entry = await new Promise<yauzl.Entry | null>((resolve, reject) => {
      zip.once('entry', resolve);
      zip.once('end', () => resolve(null));
      zip.once('error', reject);
      zip.readEntry();
    });
    zip.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
    if (!entry) return;
    yield entry;
  }
}
