/**
 * The console's static shell: the files `npm run build` bundles into
 * dist/console-ui (scripts/build-console.mjs), read once at start and served
 * by name only, with a strict Content-Security-Policy. They hold no data, so
 * they are served without a role (the login form is among them); every byte
 * of data comes from /console/api/, which needs one.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Nothing from elsewhere, nothing inline, never framed. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};
const MAX_ASSET_BYTES = 8 << 20;

export interface Asset {
  body: Buffer;
  type: string;
}

/** The default folder of the built console: <package>/dist/console-ui. */
export function defaultAssetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'dist', 'console-ui');
}

/** The built files by name (flat folder, known types, bounded size); empty when not built. */
export function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const type = TYPES[path.extname(name)];
    const file = path.join(dir, name);
    if (!type || !/^[A-Za-z0-9._-]+$/.test(name)) continue;
    const st = statSync(file);
    if (!st.isFile() || st.size > MAX_ASSET_BYTES) continue;
    out.set(name, { body: readFileSync(file), type });
  }
  return out;
}
