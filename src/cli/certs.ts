import type { Command } from 'commander';
import path from 'node:path';
import { ensureCerts, initCerts, showCerts, certPaths } from '../tls/certs.js';
import { fetchChain, readCaFile } from '../tls/inspect.js';
import { collect, configFrom, withConfig } from './options.js';

export function registerCerts(program: Command): void {
  const certs = program
    .command('certs')
    .description("manage modgate's local CA and server certificate");
  withConfig(certs.command('init'))
    .description(
      'create a local CA (reused if present) and a server certificate, and print how clients trust it',
    )
    .option('--dir <dir>', 'certificate folder', 'certs')
    .option('--host <name>', 'extra host name or IP for the certificate (repeatable)', collect)
    .option('--new-ca', 'replace the CA too (clients must trust the new one)')
    .option('--days <n>', 'server certificate lifetime in days', '397')
    .action(
      async (o: {
        config?: string;
        dir: string;
        host?: string[];
        newCa?: boolean;
        days: string;
      }) => {
        const hosts = [...(await hostsFromConfig(o)), ...(o.host ?? [])];
        const r = await initCerts({
          dir: o.dir,
          hosts,
          days: Number(o.days),
          newCa: Boolean(o.newCa),
        });
        process.stdout.write(
          `server certificate: ${r.certFile} (SANs: ${r.sans.join(', ')})\n${r.instructions}\n`,
        );
      },
    );
  withConfig(certs.command('ensure'))
    .description('create the certificates only when none exist (run by `npm start` on first start)')
    .option('--dir <dir>', 'certificate folder', 'certs')
    .action(async (o: { config?: string; dir: string }) => {
      const config = await configFrom(o);
      if (config.tls.insecureHttp) return;
      if (path.dirname(config.tls.certFile) !== path.normalize(o.dir)) return;
      // `npm start` runs this first: a config serve would refuse must not leave certificates behind.
      const { validateForServe } = await import('../wiring.js');
      await validateForServe(config, { tls: true });
      const r = await ensureCerts(o.dir, config.tls.hosts);
      if (r.created) process.stdout.write(`created ${r.certFile}\n${r.instructions}\n`);
    });
  certs
    .command('show [file]')
    .description('print the expiry and SANs of a certificate; warns 30 days before expiry')
    .action(async (file: string | undefined) => {
      const info = await showCerts(file ?? certPaths('certs').certFile);
      process.stdout.write(
        `subject:   ${info.subject}\nissuer:    ${info.issuer}\nnot after: ${info.notAfter} (${info.daysLeft} days left)\n` +
          `SANs:      ${info.sans.join(', ')}\npin:       ${info.pin}\n`,
      );
      if (info.warning) process.stderr.write(`warning: ${info.warning}\n`);
    });
  program
    .command('pins <url>')
    .description(
      'connect to an upstream and print its chain, one `sha256/BASE64  subject` line per certificate',
    )
    .option('--timeout <ms>', 'connect timeout', '10000')
    .option('--ca <file>', 'also trust this CA bundle (PEM) for the verdict, as extraCaFile does')
    .action(async (url: string, o: { timeout: string; ca?: string }) => {
      const proxy = process.env.HTTPS_PROXY ?? process.env.https_proxy;
      const report = await fetchChain(url, {
        timeoutMs: Number(o.timeout),
        ...(proxy ? { proxy } : {}),
        ...(o.ca ? { ca: [await readCaFile(o.ca)] } : {}),
      });
      process.stdout.write(`${[...report.lines, ...report.verdict].join('\n')}\n`);
    });
}

async function hostsFromConfig(o: { config?: string }): Promise<string[]> {
  const config = await configFrom(o).catch(() => undefined);
  return config?.tls.hosts ?? [];
}
