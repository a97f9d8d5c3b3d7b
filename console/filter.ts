/** The decisions filter, shared by the Decisions and Exports pages for this tab. */
export const FILTER_FIELDS = [
  'module',
  'version',
  'kind',
  'client',
  'decision',
  'code',
  'since',
  'until',
] as const;
export type Filter = Partial<Record<(typeof FILTER_FIELDS)[number], string>>;
const KEY = 'modgate.filter';

export function savedFilter(): Filter {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? '{}') as Filter;
  } catch {
    return {};
  }
}

export function saveFilter(f: Filter): void {
  sessionStorage.setItem(KEY, JSON.stringify(f));
}

export function clean(f: Filter): Record<string, string> {
  return Object.fromEntries(
    Object.entries(f).filter(([, v]) => typeof v === 'string' && v.trim() !== ''),
  ) as Record<string, string>;
}
