import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { ModgateConfig } from '../config/types.js';

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds --config to a command; the config is then loaded with flags on top. */
export function withConfig(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'config file (default: $MODGATE_CONFIG, else none)');
}

export async function configFrom(
  opts: { config?: string },
  flags: Record<string, unknown> = {},
): Promise<ModgateConfig> {
  return loadConfig({ ...(opts.config ? { file: opts.config } : {}), flags });
}
