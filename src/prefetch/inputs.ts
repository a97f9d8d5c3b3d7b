/**
 * What `modgate prefetch` fetches: module versions read from go.sum files,
 * go.mod files (every require, direct or indirect, in every block), module
 * lists (one `path@version` a line, `#` comments) and `--module` flags. Input
 * is hostile: a line that does not parse is refused with the file and line
 * number, and every module path and version is checked as the go command
 * checks them (module.Check) before any request is made.
 *
 * | code                   | meaning                                               |
 * |------------------------|-------------------------------------------------------|
 * | PREFETCH_INPUT_INVALID | a line (or --module) does not parse; names where      |
 */
import { ModgateError } from '../errors.js';
import { checkModule } from '../integrity/module.js';
import { canonicalVersion } from '../goproxy/paths.js';

export type Kind = 'info' | 'mod' | 'zip';

/** One module version and the artifacts to fetch for it. */
export interface Target {
  module: string;
  version: string;
  /** .info and .mod always; .zip unless every source says "/go.mod" only. */
  kinds: Kind[];
}

const MAX_LINE = 4096;

function bad(where: string, why: string, line?: string): ModgateError {
  const shown = line === undefined ? '' : `: ${JSON.stringify(line.slice(0, 200))}`;
  return new ModgateError('PREFETCH_INPUT_INVALID', `${where}: ${why}${shown}`);
}

/** Checks one module version (canonical, as the proxy protocol needs it); throws naming `where`. */
function checked(where: string, module: string, version: string, line: string): void {
  try {
    checkModule(module, version);
  } catch (err) {
    throw bad(where, (err as Error).message, line);
  }
  if (canonicalVersion(version) !== version)
    throw bad(where, `version ${version} is not canonical`, line);
}

/** go.sum: "M V h1:..." (zip) and "M V/go.mod h1:..." (go.mod only). */
export function parseGoSum(name: string, text: string): Array<[string, string, 'mod' | 'zip']> {
  const out: Array<[string, string, 'mod' | 'zip']> = [];
  lines(name, text).forEach((line, i) => {
    const where = `${name} line ${i + 1}`;
    if (line.trim() === '') return;
    const f = line.trim().split(/\s+/);
    if (f.length !== 3 || !/^h1:[A-Za-z0-9+/]{43}=$/.test(f[2]!))
      throw bad(where, 'not a go.sum line (module version h1:hash)', line);
    const goMod = f[1]!.endsWith('/go.mod');
    const version = goMod ? f[1]!.slice(0, -'/go.mod'.length) : f[1]!;
    checked(where, f[0]!, version, line);
    out.push([f[0]!, version, goMod ? 'mod' : 'zip']);
  });
  return out;
}

/** go.mod: every require directive, single-line or in a block; the rest is skipped. */
export function parseGoMod(name: string, text: string): Array<[string, string, 'zip']> {
  const out: Array<[string, string, 'zip']> = [];
  let block: string | undefined;
  lines(name, text).forEach((raw, i) => {
    const where = `${name} line ${i + 1}`;
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (block !== undefined) {
      if (line === ')') block = undefined;
      else if (line && block === 'require') out.push(requirement(where, line, raw));
      return;
    }
    const m = /^(\w+)\s*\($/.exec(line);
    if (m) block = m[1]!;
    else if (/^require\s/.test(line))
      out.push(requirement(where, line.slice('require'.length), raw));
  });
  if (block !== undefined) throw bad(name, `the ${block} block is not closed`);
  return out;
}

function requirement(where: string, spec: string, raw: string): [string, string, 'zip'] {
  const f = spec
    .trim()
    .split(/\s+/)
    .map((s) => s.replace(/^"(.*)"$/, '$1'));
  if (f.length !== 2) throw bad(where, 'not a requirement (module version)', raw);
  checked(where, f[0]!, f[1]!, raw);
  return [f[0]!, f[1]!, 'zip'];
}

/** A module list (or one --module): "path@version" a line, blank lines and # comments skipped. */
export function parseModuleList(name: string, text: string): Array<[string, string, 'zip']> {
  const out: Array<[string, string, 'zip']> = [];
  lines(name, text).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const where = `${name} line ${i + 1}`;
    const at = line.lastIndexOf('@');
    if (at <= 0 || /\s/.test(line)) throw bad(where, 'not a module version (path@version)', raw);
    checked(where, line.slice(0, at), line.slice(at + 1), raw);
    out.push([line.slice(0, at), line.slice(at + 1), 'zip']);
  });
  return out;
}

/** The parser of a file by its name and content: go.sum, go.mod, else a module list. */
export function parseInput(name: string, text: string): Array<[string, string, 'mod' | 'zip']> {
  if (/(^|\/)go\.sum$/.test(name) || /^\S+ \S+ h1:/m.test(text)) return parseGoSum(name, text);
  if (/(^|\/)go\.mod$/.test(name) || /^module\s/m.test(text)) return parseGoMod(name, text);
  return parseModuleList(name, text);
}

/** Merges pairs into targets, in a stable order; a zip from any source wins over go.mod only. */
export function targets(pairs: Iterable<[string, string, 'mod' | 'zip']>): Target[] {
  const zip = new Map<string, boolean>();
  for (const [m, v, k] of pairs) {
    const key = `${m}@${v}`;
    zip.set(key, (zip.get(key) ?? false) || k === 'zip');
  }
  return [...zip.entries()]
    .map(([key, z]) => {
      const at = key.lastIndexOf('@');
      const kinds: Kind[] = z ? ['info', 'mod', 'zip'] : ['info', 'mod'];
      return { module: key.slice(0, at), version: key.slice(at + 1), kinds };
    })
    .sort((a, b) =>
      a.module === b.module ? (a.version < b.version ? -1 : 1) : a.module < b.module ? -1 : 1,
    );
}

function lines(name: string, text: string): string[] {
  if (text.includes('\0')) throw bad(name, 'binary data (NUL byte)');
  const all = text.split(/\r?\n/);
  const long = all.findIndex((l) => l.length > MAX_LINE);
  if (long >= 0) throw bad(`${name} line ${long + 1}`, `longer than ${MAX_LINE} characters`);
  return all;
}
