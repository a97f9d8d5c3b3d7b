/**
 * TLS options for the HTTPS listener (fastify with `http2: true` and
 * `https: { allowHTTP1: true, ...options }`) and live certificate reload.
 *
 * | code               | meaning                                                        |
 * |--------------------|----------------------------------------------------------------|
 * | TLS_FILES_INVALID  | cert, key or CA file unreadable, incomplete or not parseable   |
 * | TLS_KEY_MISMATCH   | the private key does not belong to the certificate             |
 * | TLS_CERT_EXPIRED   | the certificate is expired or not yet valid                    |
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { ModgateError } from '../errors.js';

export { CertReloader, type ReloadableServer, type ReloadEvent } from './reloader.js';

/** TLS 1.3 suites, then TLS 1.2 ECDHE with AEAD only (all acceptable for HTTP/2). */
export const DEFAULT_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface HttpsFileOptions {
  certFile: string;
  keyFile: string;
  /** CA bundle that client certificates must chain to; enables requestCert. */
  caFile?: string;
  /** Ask for a client certificate (default: true when caFile is set). */
  requestCert?: boolean;
  /** Refuse the handshake without a valid client certificate (default false: auth decides). */
  requireClientCert?: boolean;
  minVersion?: tls.SecureVersion;
  ciphers?: string;
}

/** Everything handed to the server and to setSecureContext: one object, always complete. */
export interface HttpsOptions {
  cert: string;
  key: string;
  ca?: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  minVersion: tls.SecureVersion;
  ciphers: string;
  honorCipherOrder: boolean;
}

export interface TlsPair {
  cert: string;
  key: string;
  ca?: string;
  leaf: X509Certificate;
}

function pemBlocks(text: string, label: string): number {
  const begin = text.split(`-----BEGIN ${label}-----`).length - 1;
  const end = text.split(`-----END ${label}-----`).length - 1;
  return begin === end ? begin : -1;
}

function invalid(what: string, file: string, err?: unknown): ModgateError {
  const why = err instanceof Error ? `: ${err.message}` : '';
  return new ModgateError(
    'TLS_FILES_INVALID',
    `${what} ${file} is not usable${why}`,
    { file },
    err ? { cause: err } : undefined,
  );
}

/**
 * Reads and checks a certificate/key pair (and client CA): complete PEM
 * blocks, parseable, key matching the leaf, leaf currently valid, and
 * accepted by OpenSSL as a secure context.
 */
export async function loadTlsPair(
  o: Pick<HttpsFileOptions, 'certFile' | 'keyFile' | 'caFile'>,
  now = Date.now(),
): Promise<TlsPair> {
  const read = (f: string): Promise<string> =>
    readFile(f, 'utf8').catch((err) => Promise.reject(invalid('file', f, err)));
  const [cert, key, ca] = await Promise.all([
    read(o.certFile),
    read(o.keyFile),
    o.caFile ? read(o.caFile) : undefined,
  ]);
  if (pemBlocks(cert, 'CERTIFICATE') < 1) throw invalid('certificate file', o.certFile);
  if (ca !== undefined && pemBlocks(ca, 'CERTIFICATE') < 1) throw invalid('CA file', o.caFile!);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw invalid('certificate file', o.certFile, err);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw invalid('key file', o.keyFile, err);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ModgateError(
      'TLS_KEY_MISMATCH',
      `${o.keyFile} is not the private key of ${o.certFile}`,
      { certFile: o.certFile, keyFile: o.keyFile },
    );
  }
  if (Date.parse(leaf.validTo) <= now || Date.parse(leaf.validFrom) > now) {
    throw new ModgateError(
      'TLS_CERT_EXPIRED',
      `${o.certFile} is valid only from ${leaf.validFrom} to ${leaf.validTo}`,
      { certFile: o.certFile, notAfter: leaf.validTo },
    );
  }
  try {
    tls.createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (err) {
    throw invalid('certificate/key pair', o.certFile, err);
  }
  return { cert, key, ...(ca ? { ca } : {}), leaf };
}

/** The complete TLS option set for a pair: the same object shape at start and on reload. */
export function httpsOptionsFor(pair: TlsPair, o: HttpsFileOptions): HttpsOptions {
  const requestCert = o.requestCert ?? pair.ca !== undefined;
  return {
    cert: pair.cert,
    key: pair.key,
    ...(pair.ca ? { ca: pair.ca } : {}),
    requestCert,
    rejectUnauthorized: requestCert && (o.requireClientCert ?? false),
    minVersion: o.minVersion ?? 'TLSv1.2',
    ciphers: o.ciphers ?? DEFAULT_CIPHERS,
    honorCipherOrder: true,
  };
}

/**
 * Loads and validates the files and returns the `https` options for fastify:
 * `Fastify({ http2: true, https: { allowHTTP1: true, ...(await buildHttpsOptions(o)) } })`.
 */
export async function buildHttpsOptions(o: HttpsFileOptions): Promise<HttpsOptions> {
  return httpsOptionsFor(await loadTlsPair(o), o);
}
