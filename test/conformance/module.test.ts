import t from 'tap';
import { isModgateError } from '../../src/errors.js';
import {
  checkFilePath,
  checkImportPath,
  checkModule,
  checkPath,
  checkPathMajor,
  escapePath,
  escapeVersion,
  matchPathMajor,
  matchPrefixPatterns,
  splitPathVersion,
  unescapePath,
  unescapeVersion,
  type PathInput,
} from '../../src/integrity/module.js';
import {
  decDecimal,
  incDecimal,
  isPseudoVersion,
  pseudoVersion,
  pseudoVersionBase,
  pseudoVersionRev,
  pseudoVersionTime,
} from '../../src/integrity/pseudo.js';
import { compare } from '../../src/integrity/semver.js';
import { conformance, readJson } from '../helpers/testdata.js';

type Str = string | { utf8: false; hex: string };
const input = (s: Str): PathInput => (typeof s === 'string' ? s : Buffer.from(s.hex, 'hex'));

/** The error message thrown by fn, or null. */
function errOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (!isModgateError(err)) throw err;
    return err.message;
  }
}
function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (!isModgateError(err)) throw err;
    return err.code;
  }
}

interface PathCase {
  path: Str;
  checkPathErr: string | null;
  checkImportPathErr: string | null;
  checkFilePathErr: string | null;
  escapePath: string;
  escapePathErr: string | null;
  unescapePath: string;
  unescapePathErr: string | null;
  splitPathVersion: [Str, string, boolean];
}

t.test('module.json', async (t) => {
  conformance(t);
  const d = await readJson<Record<string, any>>('xmod-tables', 'module.json');
  let n = 0;
  for (const c of d.checkPath as PathCase[]) {
    const p = input(c.path);
    const label = JSON.stringify(c.path);
    t.equal(
      errOf(() => checkPath(p)),
      c.checkPathErr,
      `CheckPath ${label}`,
    );
    t.equal(
      errOf(() => checkImportPath(p)),
      c.checkImportPathErr,
      `CheckImportPath ${label}`,
    );
    t.equal(
      errOf(() => checkFilePath(p)),
      c.checkFilePathErr,
      `CheckFilePath ${label}`,
    );
    if (c.checkPathErr)
      t.equal(
        codeOf(() => checkPath(p)),
        'MODULE_PATH_INVALID',
      );
    if (c.checkImportPathErr)
      t.equal(
        codeOf(() => checkImportPath(p)),
        'IMPORT_PATH_INVALID',
      );
    if (c.checkFilePathErr)
      t.equal(
        codeOf(() => checkFilePath(p)),
        'FILE_PATH_INVALID',
      );
    if (typeof c.path === 'string') {
      const s = c.path;
      t.equal(
        errOf(() => escapePath(s)),
        c.escapePathErr,
        `EscapePath err ${label}`,
      );
      if (!c.escapePathErr) t.equal(escapePath(s), c.escapePath, `EscapePath ${label}`);
      t.equal(
        errOf(() => unescapePath(s)),
        c.unescapePathErr,
        `UnescapePath err ${label}`,
      );
      if (!c.unescapePathErr) t.equal(unescapePath(s), c.unescapePath);
      t.same(splitPathVersion(s), c.splitPathVersion, `SplitPathVersion ${label}`);
    }
    n++;
  }
  t.equal(n, 105, 'all CheckPath cases ran');
  for (const c of d.check) {
    t.equal(
      errOf(() => checkModule(c.path, c.version)),
      c.err,
      `Check ${c.path}@${c.version}`,
    );
    if (c.err)
      t.equal(
        codeOf(() => checkModule(c.path, c.version)),
        c.err.startsWith('malformed') ? 'MODULE_PATH_INVALID' : 'VERSION_INVALID',
      );
  }
  for (const c of d.escapePath) {
    t.equal(escapePath(c.path), c.escaped);
    t.equal(unescapePath(c.escaped), c.path);
  }
  for (const c of d.badUnescapePath) {
    t.equal(
      errOf(() => unescapePath(c.escaped)),
      c.err,
      `bad UnescapePath ${c.escaped}`,
    );
    t.equal(
      codeOf(() => unescapePath(c.escaped)),
      'MODULE_PATH_INVALID',
    );
  }
  for (const c of d.escapeVersion) {
    t.equal(
      errOf(() => escapeVersion(c.version)),
      c.err,
      `EscapeVersion ${c.version}`,
    );
    if (c.err)
      t.equal(
        codeOf(() => escapeVersion(c.version)),
        'VERSION_INVALID',
      );
    else {
      t.equal(escapeVersion(c.version), c.escaped);
      t.equal(unescapeVersion(c.escaped), c.roundTrip);
    }
  }
  for (const c of d.unescapeVersion) {
    t.equal(
      errOf(() => unescapeVersion(c.escaped)),
      c.err,
      `UnescapeVersion ${c.escaped}`,
    );
    if (!c.err) t.equal(unescapeVersion(c.escaped), c.version);
  }
  for (const c of d.splitPathVersion) {
    t.same(
      splitPathVersion(c.input),
      [c.pathPrefix, c.version, true],
      `SplitPathVersion ${c.input}`,
    );
  }
  for (const c of d.matchPathMajor) {
    t.equal(
      matchPathMajor(c.version, c.pathMajor),
      c.want,
      `MatchPathMajor ${c.version} ${c.pathMajor}`,
    );
    t.equal(
      errOf(() => checkPathMajor(c.version, c.pathMajor)),
      c.checkPathMajorErr,
    );
  }
  for (const c of d.matchPrefixPatterns) {
    t.equal(
      matchPrefixPatterns(c.globs, c.target),
      c.want,
      `MatchPrefixPatterns ${JSON.stringify(c.globs)} ${c.target}`,
    );
  }
  const sorted = [...d.sort.in].sort(sortCompare);
  t.same(sorted, d.sort.out, 'module.Sort order');
});

/** module.Sort: by path, then version (semver), then any "/go.mod" suffix. */
function sortCompare(a: [string, string], b: [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  const [va, fa = ''] = a[1].split(/(?=\/)/);
  const [vb, fb = ''] = b[1].split(/(?=\/)/);
  if (va !== vb) return compare(va!, vb!);
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}

t.test('module_pseudo.json', async (t) => {
  conformance(t);
  const d = await readJson<Record<string, any>>('xmod-tables', 'module_pseudo.json');
  const when = new Date(d.pseudoTime);
  for (const c of d.pseudo) {
    const v = c.version;
    t.equal(isPseudoVersion(v), c.isPseudo, `IsPseudoVersion ${v}`);
    t.equal(
      errOf(() => pseudoVersionBase(v)),
      c.baseErr,
    );
    t.equal(pseudoVersionBase(v), c.base, `PseudoVersionBase ${v}`);
    t.equal(pseudoVersionRev(v), c.rev, `PseudoVersionRev ${v}`);
    t.equal(
      pseudoVersionTime(v).toISOString().replace('.000Z', 'Z'),
      c.time,
      `PseudoVersionTime ${v}`,
    );
    t.equal(isPseudoVersion(c.older), c.olderIsPseudo);
    t.equal(
      errOf(() => pseudoVersionTime(c.older)),
      c.olderTimeErr,
    );
    if (c.major !== 'unused')
      t.equal(pseudoVersion(c.major, c.older, when, d.revision), v, `PseudoVersion(${c.major})`);
    else
      t.equal(pseudoVersion('', c.older, when, d.revision), v, `PseudoVersion(older ${c.older})`);
  }
  for (const c of d.invalidPseudoBase) {
    t.equal(
      errOf(() => pseudoVersionBase(c.version)),
      c.err,
      `invalid base ${c.version}`,
    );
    t.equal(
      codeOf(() => pseudoVersionBase(c.version)),
      'VERSION_INVALID',
    );
  }
  t.equal(
    errOf(() => pseudoVersionTime(d.invalidPseudoTime.version)),
    d.invalidPseudoTime.err,
  );
  for (const c of d.incDecimal) t.equal(incDecimal(c.in), c.want, `incDecimal ${c.in}`);
  for (const c of d.decDecimal) t.equal(decDecimal(c.in), c.want, `decDecimal ${c.in}`);
});
