import type { Command } from 'commander';
import { describeDemo, startDemo } from '../demo/run.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'start a sample upstream, a sample checksum database and modgate with a demo policy, all offline on loopback',
    )
    .option(
      '--dir <dir>',
      'where the demo keeps its data and certificates (default: a new temp folder)',
    )
    .option('--listen <host:port>', 'address for the demo gateway', '127.0.0.1:0')
    .action(async (o: { dir?: string; listen: string }) => {
      const demo = await startDemo({ ...(o.dir ? { dir: o.dir } : {}), listen: o.listen });
      process.stdout.write(`${describeDemo(demo)}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await demo.close();
    });
}
