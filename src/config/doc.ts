import { configSchema } from './schema.js';

interface Node {
  type?: string;
  enum?: readonly unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, Node>;
  items?: Node;
  additionalProperties?: Node | boolean;
}

/** Renders the configuration reference (docs/configuration.md) from the schema. */
export function configReference(): string {
  const rows: string[] = [];
  const walk = (node: Node, prefix: string): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const name = prefix ? `${prefix}.${key}` : key;
      if (child.properties) {
        walk(child, name);
        continue;
      }
      const type = child.enum
        ? child.enum.map((e) => `\`${String(e)}\``).join(' \\| ')
        : (child.type ?? (child.additionalProperties ? 'map' : 'object'));
      const def = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
      const env = `MODGATE_${name
        .split('.')
        .map((s) => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase())
        .join('__')}`;
      rows.push(
        `| \`${name}\` | ${type} | ${def} | \`${env}\` | ${(child.description ?? '').replaceAll('|', '\\|')} |`,
      );
    }
  };
  walk(configSchema as unknown as Node, '');
  return [
    '# Configuration reference',
    '',
    'Generated from `src/config/schema.ts` by `npm run docs:config`; a test fails when it is stale.',
    '',
    'modgate reads `modgate.yaml` (path from `--config` or `MODGATE_CONFIG`). Precedence, lowest first:',
    'schema defaults, the standard Go environment (`GOPROXY`, `GOSUMDB`, `GOPRIVATE`, `GONOPROXY`, `GONOSUMDB`),',
    'the config file, `MODGATE_*` variables, command-line flags. Nested keys use `__` in variable names',
    '(`MODGATE_TLS__INSECURE_HTTP=true`); values `true`, `false`, integers and JSON arrays/objects are parsed.',
    'Every violation is reported at once with its path (`modgate config check`).',
    'Editors can validate against `modgate.schema.json`.',
    '',
    '| key | type | default | variable | description |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
