/** Small synthetic databases in the v1 layout, for unit tests. */
export interface EntrySpec {
  id: string;
  modified?: string;
  aliases?: string[];
  summary?: string;
  withdrawn?: string;
  affected: Array<{ module: string; ranges?: Array<Array<Record<string, string>>> }>;
}

export function osvJson(e: EntrySpec): Record<string, unknown> {
  return {
    schema_version: '1.3.1',
    id: e.id,
    modified: e.modified ?? '2026-01-01T00:00:00Z',
    ...(e.withdrawn ? { withdrawn: e.withdrawn } : {}),
    aliases: e.aliases ?? [],
    summary: e.summary ?? `summary of ${e.id}`,
    affected: e.affected.map((a) => ({
      package: { name: a.module, ecosystem: 'Go' },
      ...(a.ranges ? { ranges: a.ranges.map((events) => ({ type: 'SEMVER', events })) } : {}),
    })),
  };
}

/** The files of a database holding these entries, modified at `modified`. */
export function dbFiles(
  entries: EntrySpec[],
  modified = '2026-01-01T00:00:00Z',
): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const j = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  files.set('index/db.json', j({ modified }));
  files.set(
    'index/vulns.json',
    j(
      entries.map((e) => ({
        id: e.id,
        modified: e.modified ?? '2026-01-01T00:00:00Z',
        aliases: e.aliases ?? [],
      })),
    ),
  );
  const mods = new Map<string, Array<{ id: string; modified: string }>>();
  for (const e of entries)
    for (const a of e.affected) {
      const l = mods.get(a.module) ?? [];
      l.push({ id: e.id, modified: e.modified ?? '2026-01-01T00:00:00Z' });
      mods.set(a.module, l);
    }
  files.set('index/modules.json', j([...mods].map(([path, vulns]) => ({ path, vulns }))));
  for (const e of entries) files.set(`ID/${e.id}.json`, j(osvJson(e)));
  return files;
}
