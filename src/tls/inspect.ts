/**
 * The certificate chain of a TLS server, with SPKI pins: what `modgate pins
 * URL` prints. It connects without verification so that it can show
 * untrusted and intercepted chains too; `authorized` tells whether Node's
 * trust store (plus `ca`) accepts the chain.
 *
 * | code               | meaning                                                |
 * |--------------------|--------------------------------------------------------|
 * | PINS_URL_INVALID   | not an https URL or host[:port]                        |
 * | PINS_FETCH_FAILED  | the connection, proxy tunnel or handshake failed       |
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import { ModgateError } from '../errors.js';
import { peerChainToX509, spkiPin } from './pins.js';

export interface ChainCert {
  pin: string;
  subject: string;
  issuer: string;
  notAfter: string;
  selfSigned: boolean;
  /** The top CA of the chain: the key to pin (it survives leaf and intermediate changes). */
  pinThis: boolean;
}

export interface ChainReport {
  host: string;
  port: number;
  authorized: boolean;
  authorizationError?: string;
  certs: ChainCert[];
  /** `sha256/BASE64  subject`, leaf first; the leaf and the CA to pin are marked. */
  lines: string[];
  /** Whether the chain is trusted, and which pin to configure. */
  verdict: string[];
}

export interface FetchChainOptions {
  /** Extra trusted CAs (PEM) for the `authorized` verdict. */
  ca?: string[];
  /** http://proxy:port to tunnel through with CONNECT (e.g. HTTPS_PROXY). */
  proxy?: string;
  timeoutMs?: number;
}

export function parseTarget(url: string): { host: string; port: number } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new ModgateError('PINS_URL_INVALID', `${JSON.stringify(url)} is not a URL`, { url });
  }
  if (u.protocol !== 'https:' || !u.hostname)
    throw new ModgateError('PINS_URL_INVALID', `${url}: only https URLs have certificates`, {
      url,
    });
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 443 };
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

function tunnel(proxy: string, host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    const req = http.request(proxy, {
      method: 'CONNECT',
      path: authority,
      headers: { host: authority },
      timeout: timeoutMs,
    });
    req.on('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new Error(`proxy answered ${res.statusCode} to CONNECT`));
    });
    req.on('timeout', () => req.destroy(new Error('proxy timeout')));
    req.on('error', reject);
    req.end();
  });
}

function handshake(
  host: string,
  port: number,
  o: FetchChainOptions,
  socket?: Socket,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host,
      port,
      ...(socket ? { socket } : {}),
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      ...(o.ca && o.ca.length > 0 ? { ca: [...tls.rootCertificates, ...o.ca] } : {}),
    });
    s.setTimeout(o.timeoutMs ?? 10_000, () => s.destroy(new Error('TLS handshake timeout')));
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

function verdictOf(r: ChainReport, extraCa: boolean): string[] {
  const roots = extraCa ? 'the system roots plus --ca' : 'the system roots';
  const trust = r.authorized
    ? `chain: trusted by ${roots}`
    : `chain: NOT trusted by ${roots} (${r.authorizationError ?? 'unverified'}); behind a TLS-inspecting proxy, put its CA in extraCaFile and pass the file here with --ca`;
  const ca = r.certs.find((c) => c.pinThis);
  const pin = ca
    ? `to pin: pins: { "${r.host}": ["${ca.pin}"] }  (see docs/pins.md)`
    : 'no CA certificate in the chain: get the issuing CA from its operator and pin its key (see docs/pins.md)';
  return [trust, pin];
}

/** Connects to url (optionally through a proxy) and reports its certificate chain. */
export async function fetchChain(url: string, o: FetchChainOptions = {}): Promise<ChainReport> {
  const { host, port } = parseTarget(url);
  let s: tls.TLSSocket;
  try {
    const raw = o.proxy ? await tunnel(o.proxy, host, port, o.timeoutMs ?? 10_000) : undefined;
    s = await handshake(host, port, o, raw);
  } catch (err) {
    throw new ModgateError(
      'PINS_FETCH_FAILED',
      `${host}:${port}: ${(err as Error).message}`,
      { host, port },
      { cause: err },
    );
  }
  try {
    const chain = peerChainToX509(s.getPeerCertificate(true));
    const top = chain.map((x) => x.ca).lastIndexOf(true);
    const certs = chain.map((x: X509Certificate, i) => ({
      pin: spkiPin(x),
      subject: oneLine(x.subject),
      issuer: oneLine(x.issuer),
      notAfter: new Date(x.validTo).toISOString(),
      selfSigned: x.checkIssued(x) && x.verify(x.publicKey),
      pinThis: i === top && i > 0,
    }));
    const mark = (c: ChainCert, i: number): string =>
      c.pinThis ? '  <- CA: pin this one' : i === 0 ? '  <- leaf' : '';
    const report: ChainReport = {
      host,
      port,
      authorized: s.authorized,
      certs,
      lines: certs.map((c, i) => `${c.pin}  ${c.subject}${mark(c, i)}`),
      verdict: [],
    };
    if (s.authorizationError) report.authorizationError = String(s.authorizationError);
    report.verdict = verdictOf(report, Boolean(o.ca?.length));
    return report;
  } finally {
    s.destroy();
  }
}

/** A CA bundle for `--ca`, with the CLI's one-line error. */
export async function readCaFile(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ModgateError('FILE_UNREADABLE', `cannot read ${file}: ${err.code ?? err.message}`);
  });
}
