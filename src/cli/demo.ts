import type { Command } from 'commander';
import { rmSync } from 'node:fs';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'start a sample upstream, a sample checksum database and modgate with a demo policy, all offline on loopback',
    )
    .option(
      '--dir <dir>',
      'where the demo keeps its data and certificates (default: a new temp folder, removed on exit)',
    )
    .option('--listen <host:port>', 'address for the demo gateway', '127.0.0.1:0')
    .addHelpText(
      'after',
      '\nExamples:\n  modgate demo\n  modgate demo --dir ./demo --listen 127.0.0.1:8444\n' +
        '\nCtrl-C (SIGINT) or SIGTERM stops it and exits 0; its temp folder is removed (a --dir is kept).',
    )
    .action(async (o: { dir?: string; listen: string }) => {
      const { describeDemo, startDemo } = await import('../demo/run.js');
      const demo = await startDemo({ ...(o.dir ? { dir: o.dir } : {}), listen: o.listen });
      // Last resort for an exit that skips close() (an uncaught error): never leave the temp folder.
      const sweep = (): void => {
        if (demo.temporary) rmSync(demo.dir, { recursive: true, force: true });
      };
      process.once('exit', sweep);
      process.stdout.write(`${describeDemo(demo)}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await demo.close();
      process.removeListener('exit', sweep);
    });
}
