/**
 * The local CA and server certificate behind modgate's HTTPS listener.
 *
 * | code               | meaning                                                     |
 * |--------------------|-------------------------------------------------------------|
 * | CERTS_HOST_INVALID | a host for the server certificate is not a DNS name or IP   |
 * | CERT_INVALID       | a certificate file cannot be read or parsed                 |
 *
 * Layout of `dir`: ca.pem, ca-key.pem (0600), server.pem (leaf then CA),
 * server-key.pem (0600), bundle.pem (system roots + CA, for SSL_CERT_FILE).
 */
import { X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, realpath } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import forge from 'node-forge';
import { ModgateError } from '../errors.js';
import { writeFileAtomic } from '../storage/atomic.js';
import { spkiPin } from './pins.js';
import { trustInstructions } from './trust-help.js';
import { buildCert, type BuiltCert } from './x509-build.js';

export interface CertPaths {
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  bundleFile: string;
}

export interface InitResult extends CertPaths {
  caCreated: boolean;
  sans: string[];
  /** How clients come to trust the CA, for printing. */
  instructions: string;
}

export interface CertInfo {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  sans: string[];
  daysLeft: number;
  pin: string;
  fingerprint256: string;
  warning?: string;
}

export const DEFAULT_SANS = ['localhost', '127.0.0.1', '::1'];
const CA_DAYS = 3650;
const DNS_RE =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

export function certPaths(dir: string): CertPaths {
  const f = (name: string): string => path.join(dir, name);
  return {
    caFile: f('ca.pem'),
    caKeyFile: f('ca-key.pem'),
    certFile: f('server.pem'),
    keyFile: f('server-key.pem'),
    bundleFile: f('bundle.pem'),
  };
}

/** localhost, 127.0.0.1, ::1 plus hosts, validated, without duplicates. */
export function serverSans(hosts: readonly string[]): string[] {
  const out = new Set(DEFAULT_SANS);
  for (const raw of hosts) {
    const h = raw
      .trim()
      .toLowerCase()
      .replace(/^\[|\]$/g, '');
    if (!isIP(h) && !(h.length <= 253 && DNS_RE.test(h))) {
      throw new ModgateError(
        'CERTS_HOST_INVALID',
        `${JSON.stringify(raw)} is neither a DNS name nor an IP address`,
        { host: raw },
      );
    }
    out.add(h);
  }
  return [...out];
}

async function exists(file: string): Promise<boolean> {
  return access(file, constants.R_OK).then(
    () => true,
    () => false,
  );
}

/** Reuses ca.pem + ca-key.pem when both exist and are usable; creates a CA otherwise. */
async function loadOrCreateCa(
  p: CertPaths,
  fresh: boolean,
): Promise<{ ca: BuiltCert; created: boolean }> {
  if (!fresh && (await exists(p.caFile)) && (await exists(p.caKeyFile))) {
    const [certPem, keyPem] = await Promise.all([
      readFile(p.caFile, 'utf8'),
      readFile(p.caKeyFile, 'utf8'),
    ]);
    const x509 = new X509Certificate(certPem);
    if (x509.ca && new Date(x509.validTo).getTime() > Date.now() + 86_400_000) {
      const subject = forge.pki.certificateFromPem(certPem).subject
        .attributes as BuiltCert['subject'];
      return {
        ca: { certPem, privateKeyPem: keyPem, publicKeyPem: '', subject, x509 },
        created: false,
      };
    }
  }
  const stamp = new Date().toISOString().slice(0, 10);
  const ca = buildCert({
    commonName: `modgate local CA ${stamp}`,
    organization: 'modgate',
    isCA: true,
    days: CA_DAYS,
  });
  await writeFileAtomic(p.caKeyFile, ca.privateKeyPem, 0o600);
  await writeFileAtomic(p.caFile, ca.certPem, 0o644);
  return { ca, created: true };
}

/**
 * The system roots as PEM: SSL_CERT_FILE, then the Debian and RHEL bundles,
 * else Node's bundled roots. A file that is our own bundle is skipped, so
 * regenerating never nests an old bundle.
 */
export async function systemRootsPem(exclude?: string): Promise<string> {
  const skip = exclude ? await realpath(exclude).catch(() => path.resolve(exclude)) : undefined;
  const candidates = [process.env.SSL_CERT_FILE, ...SYSTEM_BUNDLES].filter((f): f is string => !!f);
  for (const file of candidates) {
    const real = await realpath(file).catch(() => undefined);
    if (!real || real === skip) continue;
    const text = await readFile(real, 'utf8').catch(() => '');
    if (text.includes('-----BEGIN CERTIFICATE-----'))
      return text.endsWith('\n') ? text : `${text}\n`;
  }
  return `${tls.rootCertificates.join('\n')}\n`;
}

/**
 * Creates (or renews) the server certificate, reusing the local CA when one
 * exists unless newCa is set, and writes every file atomically.
 */
export async function initCerts(opts: {
  dir: string;
  hosts?: string[];
  days?: number;
  newCa?: boolean;
}): Promise<InitResult> {
  const sans = serverSans(opts.hosts ?? []);
  await mkdir(opts.dir, { recursive: true });
  const p = certPaths(opts.dir);
  const { ca, created } = await loadOrCreateCa(p, opts.newCa ?? false);
  const leaf = buildCert({
    commonName: sans.find((s) => !isIP(s) && s !== 'localhost') ?? 'localhost',
    organization: 'modgate',
    sans,
    days: opts.days ?? 397,
    issuer: { subject: ca.subject, privateKeyPem: ca.privateKeyPem },
  });
  const roots = await systemRootsPem(p.bundleFile);
  await writeFileAtomic(p.bundleFile, `${roots}\n# modgate local CA\n${ca.certPem}`, 0o644);
  await writeFileAtomic(p.keyFile, leaf.privateKeyPem, 0o600);
  await writeFileAtomic(p.certFile, leaf.certPem + ca.certPem, 0o644);
  return {
    ...p,
    caCreated: created,
    sans,
    instructions: trustInstructions({
      caFile: p.caFile,
      bundleFile: p.bundleFile,
      caCreated: created,
    }),
  };
}

/** Creates the certificates only when server.pem or server-key.pem is missing. */
export async function ensureCerts(
  dir: string,
  hosts: string[] = [],
): Promise<InitResult & { created: boolean }> {
  const p = certPaths(dir);
  if ((await exists(p.certFile)) && (await exists(p.keyFile))) {
    return { ...p, created: false, caCreated: false, sans: [], instructions: '' };
  }
  return { ...(await initCerts({ dir, hosts })), created: true };
}

function parseSans(x: X509Certificate): string[] {
  if (!x.subjectAltName) return [];
  return x.subjectAltName.split(', ').map((e) => e.replace(/^(DNS|IP Address|URI|email):/, ''));
}

/** Describes the first certificate of a PEM file, with a warning under 30 days. */
export async function showCerts(file: string, now = Date.now()): Promise<CertInfo> {
  let x: X509Certificate;
  try {
    x = new X509Certificate(await readFile(file));
  } catch (err) {
    throw new ModgateError(
      'CERT_INVALID',
      `cannot read certificate ${file}: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  const notAfter = new Date(x.validTo);
  const daysLeft = Math.floor((notAfter.getTime() - now) / 86_400_000);
  const info: CertInfo = {
    subject: x.subject,
    issuer: x.issuer,
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    sans: parseSans(x),
    daysLeft,
    pin: spkiPin(x),
    fingerprint256: x.fingerprint256,
  };
  if (daysLeft < 0) info.warning = `expired ${-daysLeft} days ago: run \`modgate certs init\``;
  else if (daysLeft < 30)
    info.warning = `expires in ${daysLeft} days: run \`modgate certs init\` to renew`;
  return info;
}
