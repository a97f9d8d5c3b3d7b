/**
 * The vulnerability index: "which entries affect module M at version V",
 * answered by one binary search. PURE: built from parsed entries, no I/O.
 *
 * Range semantics follow govulncheck (golang.org/x/vuln internal/semver
 * Affects and ContainsSemver, internal/vulncheck earliestValidFix): events of a
 * SEMVER range sorted by version with introduced "0" first, then walked
 * keeping "affected" as a state; bare OSV versions get a "v". An affected[]
 * item without SEMVER ranges affects every version. last_affected, which
 * govulncheck does not read, is applied as the OSV schema says (v <= it).
 *
 * Every boundary version of a module is sorted once; a version then falls in
 * one of 2n+1 slots (below the first boundary, at boundary i, between i and
 * i+1, ...) inside which the answer cannot change, so each slot's answer is
 * computed at build time and a lookup returns it.
 */
import { compareParsed, parse, type Parsed } from '../integrity/semver.js';
import type { Entry, RangeEvent } from './osv.js';

export interface Finding {
  id: string;
  aliases: string[];
  summary: string;
  /** The earliest fixed version past V that is not itself affected (as govulncheck's fixed_version), or "". */
  fixed: string;
  /** RFC 3339 time of withdrawal, or "" (withdrawn entries are listed, flagged). */
  withdrawn: string;
}

/** A range event with its version's boundary index (-1: introduced "0"). */
interface SlotEvent {
  kind: RangeEvent['kind'];
  at: number;
  version: string;
}

interface Item {
  ranges: SlotEvent[][];
  allVersions: boolean;
}

interface ModuleTable {
  boundaries: Array<Parsed | undefined>;
  slots: ReadonlyArray<readonly Finding[]>;
}

const NONE: readonly Finding[] = Object.freeze([]);

/** Strips "v" and "go", then adds "v" (govulncheck's canonicalizeSemverPrefix). */
export function osvVersion(s: string): string {
  let t = s.startsWith('v') ? s.slice(1) : s;
  if (t.startsWith('go')) t = t.slice(2);
  return `v${t}`;
}

/**
 * A Go release tag (go1.21.3, go1.22rc1, go1) as semver, for the stdlib and
 * toolchain pseudo-modules (x/vuln GoTagToSemver); other strings unchanged.
 */
export function goTagToSemver(tag: string): string {
  if (tag === 'go1') return 'v1.0.0';
  const m = /^go(\d+\.\d+)(\.\d+|)((beta|rc|-pre)(\d+))?$/.exec(tag);
  if (!m) return tag;
  let v = `v${m[1]}${m[2] || '.0'}`;
  if (m[3]) v += `${m[4]!.startsWith('-') ? '' : '-'}${m[4]}.${m[5]}`;
  return v;
}

/** The slot's order against boundary j: -1 below it, 0 at it, +1 above it. */
function cmpSlot(slot: number, j: number): number {
  if (slot % 2 === 1) return Math.sign((slot - 1) / 2 - j);
  return j < slot / 2 ? 1 : -1;
}

function rangeHolds(events: SlotEvent[], slot: number): boolean {
  if (events.length === 0) return true;
  let affected = false;
  for (const e of events) {
    if (!affected && e.kind === 'introduced') affected = e.at < 0 || cmpSlot(slot, e.at) >= 0;
    else if (affected && e.kind === 'fixed') affected = cmpSlot(slot, e.at) < 0;
    else if (affected && e.kind === 'last_affected') affected = cmpSlot(slot, e.at) <= 0;
  }
  return affected;
}

function itemHolds(item: Item, slot: number): boolean {
  return item.allVersions || item.ranges.some((r) => rangeHolds(r, slot));
}

/** earliestValidFix over the items that affect the slot. */
function fixedFor(items: Item[], slot: number): string {
  const fixes = items
    .flatMap((it) => it.ranges.flat())
    .filter((e) => e.kind === 'fixed' && cmpSlot(slot, e.at) < 0)
    .sort((a, b) => a.at - b.at);
  for (const f of fixes) {
    const fixSlot = 2 * f.at + 1;
    if (!items.some((it) => it.ranges.some((r) => rangeHolds(r, fixSlot))))
      return osvVersion(f.version);
  }
  return '';
}

function boundaryTable(versions: string[]): {
  sorted: Array<Parsed | undefined>;
  at: Map<string, number>;
} {
  const uniq = [...new Set(versions)].map((v) => ({ v, p: parse(osvVersion(v)) }));
  uniq.sort((a, b) => compareParsed(a.p, b.p));
  const sorted: Array<Parsed | undefined> = [];
  const at = new Map<string, number>();
  for (const u of uniq) {
    if (sorted.length === 0 || compareParsed(sorted[sorted.length - 1], u.p) !== 0)
      sorted.push(u.p);
    at.set(u.v, sorted.length - 1);
  }
  return { sorted, at };
}

/** Events in govulncheck's order: introduced "0" first, then by version (stable). */
function sortEvents(events: SlotEvent[]): SlotEvent[] {
  return [...events].sort((a, b) => {
    if (a.at < 0 && a.kind === 'introduced') return -1;
    if (b.at < 0 && b.kind === 'introduced') return 1;
    return a.at - b.at;
  });
}

function buildModule(entries: Array<{ entry: Entry; items: Entry['affected'] }>): ModuleTable {
  const versions = entries.flatMap((e) =>
    e.items.flatMap((a) =>
      a.ranges
        .flat()
        .filter((ev) => !(ev.kind === 'introduced' && ev.version === '0'))
        .map((ev) => ev.version),
    ),
  );
  const { sorted, at } = boundaryTable(versions);
  const compiled = entries.map(({ entry, items }) => ({
    entry,
    items: items.map((a): Item => ({
      allVersions: a.allVersions,
      ranges: a.ranges.map((r) =>
        sortEvents(
          r.map((ev) => ({
            kind: ev.kind,
            version: ev.version,
            at: ev.kind === 'introduced' && ev.version === '0' ? -1 : at.get(ev.version)!,
          })),
        ),
      ),
    })),
  }));
  const slots: Array<readonly Finding[]> = [];
  for (let slot = 0; slot < 2 * sorted.length + 1; slot++) {
    const out: Finding[] = [];
    for (const { entry, items } of compiled) {
      const hit = items.filter((it) => itemHolds(it, slot));
      if (hit.length === 0) continue;
      out.push(
        Object.freeze({
          id: entry.id,
          aliases: entry.aliases,
          summary: entry.summary,
          fixed: fixedFor(hit, slot),
          withdrawn: entry.withdrawn,
        }),
      );
    }
    slots.push(out.length ? Object.freeze(out) : NONE);
  }
  return { boundaries: sorted, slots };
}

export class VulnIndex {
  private readonly modules = new Map<string, ModuleTable>();
  private readonly byId = new Map<string, Entry>();
  private readonly aliasIds = new Map<string, string[]>();

  constructor(
    entries: Iterable<Entry>,
    /** index/db.json's modified. */
    readonly modified: string,
  ) {
    const perModule = new Map<string, Array<{ entry: Entry; items: Entry['affected'] }>>();
    for (const e of entries) {
      this.byId.set(e.id, e);
      for (const a of e.aliases) {
        const ids = this.aliasIds.get(a) ?? [];
        ids.push(e.id);
        this.aliasIds.set(a, ids);
      }
      const seen = new Map<string, Entry['affected']>();
      for (const a of e.affected) {
        const list = seen.get(a.module) ?? [];
        list.push(a);
        seen.set(a.module, list);
      }
      for (const [m, items] of seen) {
        const list = perModule.get(m) ?? [];
        list.push({ entry: e, items });
        perModule.set(m, list);
      }
    }
    for (const [m, list] of perModule) {
      list.sort((a, b) => (a.entry.id < b.entry.id ? -1 : a.entry.id > b.entry.id ? 1 : 0));
      this.modules.set(m, buildModule(list));
    }
  }

  get size(): number {
    return this.byId.size;
  }

  /**
   * The entries that affect module at version (withdrawn ones included,
   * flagged), in id order. For stdlib and toolchain a Go tag (go1.21.3) is
   * read as its semver. The result is frozen and shared: do not modify it.
   */
  lookup(module: string, version: string): readonly Finding[] {
    const t = this.modules.get(module);
    if (!t) return NONE;
    const v = module === 'stdlib' || module === 'toolchain' ? goTagToSemver(version) : version;
    const p = parse(osvVersion(v));
    let lo = 0;
    let hi = t.boundaries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareParsed(p, t.boundaries[mid]);
      if (c === 0) return t.slots[2 * mid + 1]!;
      if (c < 0) hi = mid;
      else lo = mid + 1;
    }
    return t.slots[2 * lo]!;
  }

  /** True when some entry names this module. */
  hasModule(module: string): boolean {
    return this.modules.has(module);
  }

  entry(id: string): Entry | undefined {
    return this.byId.get(id);
  }

  /** The ids that list this alias (CVE-…, GHSA-…). */
  idsForAlias(alias: string): readonly string[] {
    return this.aliasIds.get(alias) ?? [];
  }

  ids(): IterableIterator<string> {
    return this.byId.keys();
  }

  moduleNames(): IterableIterator<string> {
    return this.modules.keys();
  }
}
