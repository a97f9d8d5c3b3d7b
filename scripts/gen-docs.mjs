// Writes docs/configuration.md and modgate.schema.json from the compiled schema.
import { writeFileSync, mkdirSync } from 'node:fs';
const { configReference } = await import('../dist/config/doc.js');
const { configSchema } = await import('../dist/config/schema.js');
mkdirSync('docs', { recursive: true });
writeFileSync('docs/configuration.md', configReference());
writeFileSync('modgate.schema.json', `${JSON.stringify(configSchema, null, 2)}\n`);
console.log('wrote docs/configuration.md and modgate.schema.json');
