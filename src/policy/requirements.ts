import { ModgateError } from '../errors.js';

export interface Requirement {
  module: string;
  version: string;
  /** zip for selected versions; mod for go.sum lines that only carry /go.mod (read by MVS, never selected). */
  kind: 'zip' | 'mod';
  /** The zip's h1: hash from go.sum (go.sum input only): the bytes the build will use. */
  h1?: string;
}

/** The requirements of a go.mod (require directives) or a go.sum (one per module version). */
export function parseRequirements(name: string, text: string): Requirement[] {
  return name.endsWith('.sum') || /^\S+ \S+ h1:/m.test(text) ? fromGoSum(text) : fromGoMod(text);
}

function fromGoSum(text: string): Requirement[] {
  const zips = new Map<string, string>();
  const mods = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.trim().split(/\s+/);
    if (f.length !== 3 || !f[2]!.startsWith('h1:'))
      throw new ModgateError('GOSUM_INVALID', `go.sum line ${i + 1} is malformed: ${line}`);
    if (f[1]!.endsWith('/go.mod')) mods.add(`${f[0]} ${f[1]!.slice(0, -'/go.mod'.length)}`);
    else zips.set(`${f[0]} ${f[1]}`, f[2]!);
  });
  const out: Requirement[] = [];
  for (const [k, h1] of zips) out.push({ ...split(k, 'zip'), h1 });
  for (const k of mods) if (!zips.has(k)) out.push(split(k, 'mod'));
  return out.sort((a, b) => (a.module + a.version < b.module + b.version ? -1 : 1));
}

function split(k: string, kind: Requirement['kind']): Requirement {
  const [module, version] = k.split(' ') as [string, string];
  return { module, version, kind };
}

function fromGoMod(text: string): Requirement[] {
  const out: Requirement[] = [];
  let inBlock = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (inBlock) {
      if (line === ')') inBlock = false;
      else if (line) out.push(req(line));
      continue;
    }
    if (line === 'require (') inBlock = true;
    else if (line.startsWith('require ')) out.push(req(line.slice('require '.length)));
  }
  return out;
}

function req(spec: string): Requirement {
  const [module, version] = spec
    .trim()
    .split(/\s+/)
    .map((s) => s.replace(/^"|"$/g, ''));
  if (!module || !version)
    throw new ModgateError('GOMOD_INVALID', `cannot read requirement: ${spec}`);
  return { module, version, kind: 'zip' };
}
