import { readFileSync } from 'node:fs';

/** modgate's version from its package.json (the CLI may run outside npm, so not npm_package_version). */
export function modgateVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
