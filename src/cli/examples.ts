import type { Command } from 'commander';

/**
 * Examples for commands whose own file does not carry them, by command path.
 * Applied once in buildProgram, so every command's --help ends with examples.
 */
const EXAMPLES: Record<string, string[]> = {
  serve: [
    'modgate serve',
    'modgate serve --config /etc/modgate/modgate.yaml --data /var/lib/modgate',
    'modgate serve --upstream https://proxy.corp.example --pin proxy.corp.example=sha256/BASE64...',
  ],
  'verify zip': ['modgate verify zip lib.zip --module example.com/lib --version v1.2.3'],
  'verify mod': ['modgate verify mod go.mod'],
  'verify gosum': [
    'modgate verify gosum go.sum',
    'modgate verify gosum go.sum --data /var/lib/modgate',
  ],
  'certs init': ['modgate certs init --host modgate.corp.example', 'modgate certs init --new-ca'],
  'certs ensure': ['modgate certs ensure'],
  'certs show': ['modgate certs show', 'modgate certs show certs/server.pem'],
  pins: [
    'modgate pins https://proxy.corp.example',
    'HTTPS_PROXY=http://egress:3128 modgate pins https://proxy.corp.example',
  ],
  'policy eval': [
    'modgate policy eval --module golang.org/x/text --version v0.3.0',
    'modgate policy eval --module example.com/lib --version v1.0.0 --kind list --offline',
  ],
  'policy test': ['modgate policy test', 'modgate policy test ./policies'],
};

export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function leafCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => (c.commands.length ? leafCommands(c) : [c]));
}

export function addExamples(program: Command): void {
  for (const cmd of leafCommands(program)) {
    const lines = EXAMPLES[commandPath(cmd)];
    if (lines) cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  }
}
