/**
 * CycloneDX 1.5 JSON SBOM of the module versions the gateway served (allow
 * or warn decisions) in a period. Components are keyed by purl
 * pkg:golang/<namespace>/<name>@<version>, where the name is the module
 * path's last element and the namespace the elements before it. Case is kept:
 * Go module paths are case-sensitive, so lowercasing would merge distinct
 * modules.
 */
import { randomUUID } from 'node:crypto';
import type { AuditRecord } from './records.js';

export interface CycloneDxComponent {
  type: 'library';
  'bom-ref': string;
  name: string;
  version: string;
  purl: string;
  hashes?: { alg: 'SHA-256'; content: string }[];
  /** CycloneDX 1.5 licenses: one SPDX expression, or the files' names when unknown. */
  licenses?: Array<{ expression: string } | { license: { name: string } }>;
  properties?: { name: string; value: string }[];
}

export interface CycloneDxBom {
  $schema: string;
  bomFormat: 'CycloneDX';
  specVersion: '1.5';
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp: string;
    tools: { components: { type: 'application'; name: string; version?: string }[] };
    properties: { name: string; value: string }[];
  };
  components: CycloneDxComponent[];
}

export interface SbomOptions {
  now?: Date;
  since?: Date;
  until?: Date;
  serialNumber?: string;
  toolVersion?: string;
}

/** Percent-encodes everything but RFC 3986 unreserved characters (uppercase hex, as the purl spec asks). */
export function purlEncode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** pkg:golang purl of a module path and version (each path element encoded on its own). */
export function goPurl(modulePath: string, version?: string): string {
  const parts = modulePath.split('/').filter((p) => p !== '');
  const name = parts.pop() ?? '';
  const ns = parts.map(purlEncode).join('/');
  return `pkg:golang/${ns ? `${ns}/` : ''}${purlEncode(name)}${version ? `@${purlEncode(version)}` : ''}`;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

interface Acc {
  module: string;
  version: string;
  sha: Set<string>;
  /** h1 of the module zip (go.sum's `h1:` line). */
  h1: Set<string>;
  /** h1 of the go.mod file (go.sum's `/go.mod h1:` line): a different hash, so a different property. */
  modH1: Set<string>;
  licenses?: { expression: string; unknown: boolean; files: Array<{ path: string }> };
  first: string;
  last: string;
}

function collect(acc: Map<string, Acc>, r: AuditRecord): void {
  if (r.type !== 'decision' || !r.version || !r.module) return;
  // Only served components belong in the bill of materials.
  if (r.decision !== 'allow' && r.decision !== 'warn') return;
  const key = `${r.module}@${r.version}`;
  let a = acc.get(key);
  if (!a) {
    a = {
      module: r.module,
      version: r.version,
      sha: new Set(),
      h1: new Set(),
      modH1: new Set(),
      first: r.time,
      last: r.time,
    };
    acc.set(key, a);
  }
  if (r.time < a.first) a.first = r.time;
  if (r.time > a.last) a.last = r.time;
  const ev = r.evidence;
  if (r.kind === 'mod') {
    if (ev?.h1) a.modH1.add(ev.h1);
    return;
  }
  if (ev?.zipSha256 && HEX64.test(ev.zipSha256)) a.sha.add(ev.zipSha256.toLowerCase());
  if (ev?.h1) a.h1.add(ev.h1);
  if (ev?.licenses && typeof ev.licenses.expression === 'string') a.licenses = ev.licenses;
}

function licensesOf(a: Acc): CycloneDxComponent['licenses'] {
  const l = a.licenses;
  if (!l) return undefined;
  if (!l.unknown && l.expression) return [{ expression: l.expression }];
  return [
    {
      license: {
        name: l.files.length
          ? `unknown (${l.files.map((f) => f.path).join(', ')})`
          : 'unknown (no license file)',
      },
    },
  ];
}

function component(a: Acc): CycloneDxComponent {
  const purl = goPurl(a.module, a.version);
  const properties = [
    ...[...a.h1].sort().map((value) => ({ name: 'go:h1', value })),
    ...[...a.modH1].sort().map((value) => ({ name: 'go:mod-h1', value })),
    { name: 'modgate:firstServed', value: a.first },
    { name: 'modgate:lastServed', value: a.last },
  ];
  return {
    type: 'library',
    'bom-ref': purl,
    name: a.module,
    version: a.version,
    purl,
    ...(licensesOf(a) ? { licenses: licensesOf(a)! } : {}),
    ...(a.sha.size
      ? { hashes: [...a.sha].sort().map((content) => ({ alg: 'SHA-256' as const, content })) }
      : {}),
    properties,
  };
}

/** Builds the SBOM from decision records (filter the period with queryAudit first). */
export async function buildCycloneDx(
  records: AsyncIterable<AuditRecord>,
  opts: SbomOptions = {},
): Promise<CycloneDxBom> {
  const acc = new Map<string, Acc>();
  for await (const r of records) collect(acc, r);
  const props: { name: string; value: string }[] = [];
  if (opts.since) props.push({ name: 'modgate:periodStart', value: opts.since.toISOString() });
  if (opts.until) props.push({ name: 'modgate:periodEnd', value: opts.until.toISOString() });
  const components = [...acc.values()]
    .map(component)
    .sort((x, y) => (x.purl < y.purl ? -1 : x.purl > y.purl ? 1 : 0));
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.5.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: opts.serialNumber ?? `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: (opts.now ?? new Date()).toISOString(),
      tools: {
        components: [
          {
            type: 'application',
            name: 'modgate',
            ...(opts.toolVersion ? { version: opts.toolVersion } : {}),
          },
        ],
      },
      properties: props,
    },
    components,
  };
}
