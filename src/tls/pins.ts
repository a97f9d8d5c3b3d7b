/**
 * SPKI pinning: pins are `sha256/BASE64` of the DER SubjectPublicKeyInfo, the
 * form of HPKP `pin-sha256` and of Chromium's static pinsets.
 *
 * | code                   | meaning                                                    |
 * |------------------------|------------------------------------------------------------|
 * | PIN_INVALID            | a pin string is not `sha256/` + base64 of 32 bytes         |
 * | CERT_INVALID           | a certificate could not be parsed                          |
 * | UPSTREAM_PIN_MISMATCH  | no pin matches a certificate of the verified chain         |
 *
 * The chain handed to verifyPinnedChain is whatever the TLS layer reports. With
 * Node, `socket.getPeerCertificate(true)` lists the certificates the server sent
 * and then completes the issuer chain from the client's trust store, so the
 * root appears even though servers normally do not send it (test/tls/pins.test.ts
 * checks this). The objects are linked by name (X509_check_issued), not by
 * signature: a server may send a copy of a pinned CA next to a leaf signed by
 * another key. Hence the walk below keeps a parent only when its key verifies
 * the child's signature, and only certificates reached that way count.
 */
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import type { DetailedPeerCertificate } from 'node:tls';
import { ModgateError } from '../errors.js';

/**
 * SPKI pins of the Google Trust Services roots (GTS Root R1–R4, GlobalSign ECC
 * Root CA R4 and Google's backup key), from Chromium's "google" pinset
 * (net/http/transport_security_state_static.pins), recomputed from the root
 * certificates. They suit upstreams behind Google's front ends, such as
 * sum.golang.org and the public Go module mirror. Roots are pinned, not
 * intermediates, which Google rotates (WR2, WE2 in 2023–24).
 */
export const DEFAULT_GOOGLE_PINS: readonly string[] = Object.freeze([
  'sha256/hxqRlPTu1bMS/0DITB1SSu0vd4u/8l8TjPgfaAp63Gc=',
  'sha256/Vfd95BwDeSQo+NUYxVEEIlvkOlWY2SalKK1lPhzOx78=',
  'sha256/QXnt2YHvdHR3tJYmQIr0Paosp6t/nggsEGD4QJZ3Q0g=',
  'sha256/mEflZT5enoR1FuXLgYYGqnVEoZvmf9c2bVBpiOjYQ0c=',
  'sha256/CLOmM1/OXvSPjw5UOYbAf9GKOxImEp9hhku9W90fHMk=',
  'sha256/IPMbDAjLVSGntGO3WP53X/zilCVndez5YJ2+vJvhJsA=',
]);

const PIN_RE = /^sha256\/[A-Za-z0-9+/]{43}=$/;

export type CertInput = X509Certificate | Buffer | string;

export function toX509(cert: CertInput): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  try {
    return new X509Certificate(cert);
  } catch (err) {
    throw new ModgateError(
      'CERT_INVALID',
      `cannot parse certificate: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
}

/** `sha256/BASE64` of the certificate's DER SubjectPublicKeyInfo. */
export function spkiPin(cert: CertInput): string {
  const spki = toX509(cert).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256/${createHash('sha256').update(spki).digest('base64')}`;
}

/** Checks the syntax of pins; throws PIN_INVALID naming the first bad one. */
export function validatePins(pins: readonly string[]): void {
  for (const p of pins) {
    if (!PIN_RE.test(p))
      throw new ModgateError(
        'PIN_INVALID',
        `pin ${JSON.stringify(p)} is not sha256/ followed by base64 of 32 bytes`,
        { pin: p },
      );
  }
}

/** Flattens getPeerCertificate(true) output into DER-parsed certs, leaf first. */
export function peerChainToX509(peer: DetailedPeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  let cur: DetailedPeerCertificate | undefined = peer;
  while (cur && cur.raw && !seen.has(cur) && out.length < 16) {
    seen.add(cur);
    out.push(new X509Certificate(cur.raw));
    cur = cur.issuerCertificate;
  }
  return out;
}

function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey as KeyObject);
  } catch {
    return false;
  }
}

/**
 * The prefix of the chain in which each certificate is signed by the next:
 * starts at the leaf, then repeatedly picks, among the remaining certificates,
 * one that names and verifies the current one, falling back to the trust
 * anchors (the CAs the TLS layer trusts) when none of the presented ones does.
 * Stops at a self-signed certificate, at a repeat, or when no parent verifies.
 */
export function verifiedChain(
  certs: X509Certificate[],
  anchors: readonly X509Certificate[] = [],
): X509Certificate[] {
  const leaf = certs[0];
  if (!leaf) return [];
  const chain = [leaf];
  const used = new Set<string>([leaf.fingerprint256]);
  let cur = leaf;
  while (chain.length < 16) {
    if (signedBy(cur, cur)) break;
    const fits = (c: X509Certificate): boolean => !used.has(c.fingerprint256) && signedBy(cur, c);
    const parent = certs.find(fits) ?? anchors.find(fits);
    if (!parent) break;
    chain.push(parent);
    used.add(parent.fingerprint256);
    cur = parent;
  }
  return chain;
}

export interface PinResult {
  ok: true;
  /** Pins of the verified chain, leaf first. */
  seen: string[];
}

/**
 * Succeeds when one of pins equals the SPKI pin of a certificate of the
 * signature-verified chain; throws UPSTREAM_PIN_MISMATCH otherwise. Pass as
 * anchors the CAs the connection trusts: Node links its reported chain by name,
 * so when a server sends a same-named decoy CA, the CA that really signed (and
 * that OpenSSL verified against) is only found among the anchors.
 */
export function verifyPinnedChain(
  peerCertChain: DetailedPeerCertificate | X509Certificate[],
  pins: readonly string[],
  host = '',
  anchors: readonly X509Certificate[] = [],
): PinResult {
  const certs = Array.isArray(peerCertChain) ? peerCertChain : peerChainToX509(peerCertChain);
  const seen = verifiedChain(certs, anchors).map((c) => spkiPin(c));
  const wanted = new Set(pins);
  if (seen.some((p) => wanted.has(p))) return { ok: true, seen };
  throw new ModgateError('UPSTREAM_PIN_MISMATCH', pinMismatchText(host, seen), {
    host,
    expected: [...pins],
    seen,
  });
}

/**
 * The refusal the go command prints (it shows 8 lines at most): what was seen,
 * the likely cause and the fix, most useful first.
 */
export function pinMismatchText(host: string, seen: readonly string[], url?: string): string {
  const h = host || 'upstream';
  const last = seen.length - 1;
  const shown = seen.map((p, i) => `${p}${i === 0 ? ' (leaf)' : i === last ? ' (CA)' : ''}`);
  return [
    `TLS key pin mismatch for ${h}: the certificate chain matches none of the configured pins`,
    `seen: ${shown.length ? shown.join(', ') : 'no verifiable chain'}`,
    `behind a TLS-inspecting proxy? check the chain with \`modgate pins ${url ?? `https://${h}`}\``,
    `then pin its CA under pins."${h}" (and extraCaFile); see docs/pins.md`,
  ].join('\n');
}
