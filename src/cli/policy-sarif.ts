/**
 * SARIF 2.1.0 output of `modgate policy check` (GitHub code scanning, GitLab):
 * one result per denial (error) and warning (warning), located at the
 * requirement's line of the go.mod or go.sum, with the rule being the
 * reason's code. Vulnerability findings carry their ids, aliases and fixed
 * version in the result's properties, and every result its requirement's
 * license (SPDX expression, or unknown) when it was read.
 */
import type { LicenseFacts, VulnFact } from '../contracts.js';

interface Row {
  module: string;
  version: string;
  deny: Array<{ code: string; message: string }>;
  warn: Array<{ code: string; message: string }>;
  vulns?: VulnFact[];
  licenses?: LicenseFacts;
}

/** The 1-based line of a requirement in the file's text (1 when not found). */
export function lineOf(text: string, module: string, version: string): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => {
    const f = l
      .replace(/\/\/.*$/, '')
      .trim()
      .split(/\s+/);
    const at = f.indexOf(module);
    return at >= 0 && (f[at + 1] === version || f[at + 1] === `${version}/go.mod`);
  });
  return i >= 0 ? i + 1 : 1;
}

export function sarif(file: string, text: string, rows: Row[], toolVersion: string): unknown {
  const results = rows.flatMap((r) => {
    const region = { startLine: lineOf(text, r.module, r.version) };
    const props = {
      module: r.module,
      version: r.version,
      ...(r.vulns?.length
        ? {
            vulnerabilities: r.vulns.map((v) => ({
              id: v.id,
              aliases: v.aliases,
              fixed: v.fixed,
              withdrawn: v.withdrawn !== '',
            })),
          }
        : {}),
      ...(r.licenses
        ? {
            license: r.licenses.unknown ? 'unknown' : r.licenses.expression,
            licenseFiles: r.licenses.files,
          }
        : {}),
    };
    const one = (level: 'error' | 'warning') => (d: { code: string; message: string }) => ({
      ruleId: d.code,
      level,
      message: { text: d.message },
      locations: [{ physicalLocation: { artifactLocation: { uri: file }, region } }],
      properties: props,
    });
    return [...r.deny.map(one('error')), ...r.warn.map(one('warning'))];
  });
  const rules = [...new Set(results.map((r) => r.ruleId))]
    .sort()
    .map((id) => ({ id, shortDescription: { text: id } }));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'modgate',
            version: toolVersion,
            informationUri: 'https://modgate.dev',
            rules,
          },
        },
        results,
        // Every requirement's license, findings or not (GitHub and GitLab show run properties as they are).
        properties: {
          licenses: rows
            .filter((r) => r.licenses)
            .map((r) => ({
              module: r.module,
              version: r.version,
              license: r.licenses!.unknown ? 'unknown' : r.licenses!.expression,
            })),
        },
      },
    ],
  };
}
