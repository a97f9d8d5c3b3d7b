/**
 * The part of go.mod that policy needs: the module path, its "Deprecated:"
 * comment and the retract directives with their rationale, parsed leniently as
 * the go command parses the go.mod of a dependency (golang.org/x/mod/modfile,
 * lax mode: malformed retractions are ignored). Nothing here throws.
 */
import { build, canonical, compare } from './semver.js';

export interface Retraction {
  low: string;
  high: string;
  rationale: string;
}

export interface ModFileInfo {
  module?: string;
  deprecated?: string;
  retract: Retraction[];
}

interface Line {
  tokens: string[];
  before: string[];
  suffix: string[];
}

interface Stmt extends Line {
  block?: Line[];
}

interface LexLine {
  tokens: string[];
  comment?: string;
}

const TOKEN =
  /\s*(\/\/.*$|"(?:[^"\\]|\\.)*"|`[^`]*`|[()[\]{},]|[^\s()[\]{},"`]+?(?=\/\/|[\s()[\]{},]|$))/y;

function lexLine(text: string): LexLine {
  const out: LexLine = { tokens: [] };
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m; m = TOKEN.exec(text)) {
    const tok = m[1]!;
    if (tok.startsWith('//')) out.comment = tok;
    else out.tokens.push(tok);
  }
  return out;
}

function parseStmts(text: string): Stmt[] {
  const stmts: Stmt[] = [];
  let pending: string[] = [];
  let block: Stmt | undefined;
  for (const raw of text.split('\n')) {
    const { tokens, comment } = lexLine(raw.replace(/\r$/, ''));
    if (tokens.length === 0) {
      if (comment) pending.push(comment);
      else if (block) pending.push('');
      else pending = [];
      continue;
    }
    const suffix = comment ? [comment] : [];
    if (block) {
      if (tokens[0] === ')') {
        block = undefined;
        pending = [];
        continue;
      }
      block.block!.push({ tokens, before: pending, suffix });
      pending = [];
      continue;
    }
    const stmt: Stmt = { tokens, before: pending, suffix };
    pending = [];
    if (tokens.length === 2 && tokens[1] === '(') {
      stmt.tokens = [tokens[0]!];
      stmt.suffix = [];
      stmt.block = [];
      block = stmt;
    }
    stmts.push(stmt);
  }
  return stmts;
}

function directiveComment(block: Line | undefined, line: Line): string {
  let groups = [line.before, line.suffix];
  if (block && line.before.length === 0 && line.suffix.length === 0)
    groups = [block.before, block.suffix];
  return groups
    .flat()
    .filter((c) => c.startsWith('//'))
    .map((c) => c.slice(2).trim())
    .join('\n');
}

function unquote(tok: string): string | undefined {
  if (tok.startsWith('"')) {
    try {
      return JSON.parse(tok) as string;
    } catch {
      return undefined;
    }
  }
  if (tok.startsWith('`')) return tok.slice(1, -1);
  return /["'`]/.test(tok) ? undefined : tok;
}

function version(tok: string | undefined): string | undefined {
  const t = tok === undefined ? undefined : unquote(tok);
  if (t === undefined) return undefined;
  const cv = canonical(t);
  if (cv === '') return undefined;
  return build(t) === '+incompatible' ? `${cv}+incompatible` : cv;
}

function interval(args: string[]): { low: string; high: string } | undefined {
  if (args.length === 1) {
    const v = version(args[0]);
    return v ? { low: v, high: v } : undefined;
  }
  if (args.length !== 5 || args[0] !== '[' || args[2] !== ',' || args[4] !== ']') return undefined;
  const low = version(args[1]);
  const high = version(args[3]);
  return low && high ? { low, high } : undefined;
}

const DEPRECATED = /(?:^|\n\n)Deprecated: *([\s\S]*?)(?:$|\n\n)/;

export function parseModFile(text: string): ModFileInfo {
  const info: ModFileInfo = { retract: [] };
  for (const stmt of parseStmts(text)) {
    const verb = stmt.tokens[0];
    const lines: Array<[Line | undefined, Line, string[]]> = stmt.block
      ? stmt.block.map((l) => [stmt, l, l.tokens])
      : [[undefined, stmt, stmt.tokens.slice(1)]];
    for (const [block, line, args] of lines) {
      if (verb === 'module' && args.length === 1 && info.module === undefined) {
        const p = unquote(args[0]!);
        if (p === undefined) continue;
        info.module = p;
        const dep = DEPRECATED.exec(directiveComment(block, line));
        if (dep) info.deprecated = dep[1]!;
      } else if (verb === 'retract') {
        const vi = interval(args);
        if (vi) info.retract.push({ ...vi, rationale: directiveComment(block, line) });
      }
    }
  }
  return info;
}

/** Whether a version falls in any retracted interval (bounds inclusive). */
export function isRetracted(version: string, retracts: readonly Retraction[]): boolean {
  return retracts.some((r) => compare(r.low, version) <= 0 && compare(version, r.high) <= 0);
}
