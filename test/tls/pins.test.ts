import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { isModgateError } from '../../src/errors.js';
import {
  DEFAULT_GOOGLE_PINS,
  peerChainToX509,
  spkiPin,
  validatePins,
  verifiedChain,
  verifyPinnedChain,
} from '../../src/tls/pins.js';
import {
  makeChain,
  makeImpostorChain,
  makeLeaf,
  startHttpsServer,
} from '../helpers/tls-fixtures.js';

const chain = makeChain();
const { root, intermediate, leaf } = chain;

t.test('spkiPin hashes the DER SubjectPublicKeyInfo', async (t) => {
  const spki = leaf.x509.publicKey.export({ type: 'spki', format: 'der' });
  const expected = `sha256/${createHash('sha256').update(spki).digest('base64')}`;
  t.equal(spkiPin(leaf.x509), expected);
  t.equal(spkiPin(leaf.certPem), expected, 'PEM input');
  t.equal(spkiPin(leaf.x509.raw), expected, 'DER input');
  t.not(spkiPin(root.x509), expected);
  t.throws(() => spkiPin('not a cert'), { code: 'CERT_INVALID' });
});

t.test('spkiPin of an EC certificate hashes the SPKI, not the raw point', async (t) => {
  let pem: string;
  try {
    pem = execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        '/dev/null',
        '-subj',
        '/CN=ec',
        '-days',
        '1',
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
  } catch {
    // No openssl binary: build the same check from a Node-bundled EC root.
    pem = tls.rootCertificates.find(
      (c) => new X509Certificate(c).publicKey.asymmetricKeyType === 'ec',
    )!;
  }
  const x = new X509Certificate(pem);
  const spki = x.publicKey.export({ type: 'spki', format: 'der' });
  t.equal(spkiPin(pem), `sha256/${createHash('sha256').update(spki).digest('base64')}`);
  t.ok(spki.length > 65, 'SPKI wraps the 65-byte point');
});

t.test('DEFAULT_GOOGLE_PINS are well-formed and match a bundled GTS root', async (t) => {
  validatePins(DEFAULT_GOOGLE_PINS);
  t.equal(DEFAULT_GOOGLE_PINS.length, 6);
  const bundled = new Set(tls.rootCertificates.map((c) => spkiPin(c)));
  t.ok(
    DEFAULT_GOOGLE_PINS.filter((p) => bundled.has(p)).length >= 4,
    'GTS roots are in the Node root store',
  );
  t.throws(() => validatePins(['sha256/abc']), { code: 'PIN_INVALID' });
  t.throws(() => validatePins(['sha1/' + 'A'.repeat(43) + '=']), { code: 'PIN_INVALID' });
});

t.test('verifyPinnedChain on X509Certificate arrays', async (t) => {
  const certs = [leaf.x509, intermediate.x509, root.x509];
  t.same(
    verifyPinnedChain(certs, [spkiPin(leaf.x509)]).seen,
    certs.map((c) => spkiPin(c)),
    'leaf pin',
  );
  t.ok(verifyPinnedChain(certs, [spkiPin(root.x509)]).ok, 'root pin');
  t.ok(verifyPinnedChain(certs, [spkiPin(intermediate.x509)]).ok, 'intermediate pin');
  const other = makeChain('Other Root');
  t.throws(() => verifyPinnedChain(certs, [spkiPin(other.root.x509)], 'h.example'), {
    code: 'UPSTREAM_PIN_MISMATCH',
    details: {
      host: 'h.example',
      expected: [spkiPin(other.root.x509)],
      seen: certs.map((c) => spkiPin(c)),
    },
  });
  t.throws(() => verifyPinnedChain([], [spkiPin(root.x509)]), { code: 'UPSTREAM_PIN_MISMATCH' });
});

t.test('a rotated leaf under the pinned CA passes', async (t) => {
  const rotated = makeLeaf(intermediate);
  t.ok(verifyPinnedChain([rotated.x509, intermediate.x509, root.x509], [spkiPin(root.x509)]).ok);
  t.throws(
    () => verifyPinnedChain([rotated.x509, intermediate.x509, root.x509], [spkiPin(leaf.x509)]),
    { code: 'UPSTREAM_PIN_MISMATCH' },
  );
});

t.test('a chain that names the pinned CA without its signature is refused', async (t) => {
  const { impostorCa, leaf: evil } = makeImpostorChain(root);
  t.equal(evil.x509.issuer, root.x509.subject, 'the forged leaf names the pinned root');
  t.ok(evil.x509.checkIssued(root.x509), 'name-based issuer check is fooled');
  const presented = [evil.x509, root.x509];
  t.same(verifiedChain(presented).length, 1, 'walk stops at the leaf');
  t.throws(() => verifyPinnedChain(presented, [spkiPin(root.x509)]), {
    code: 'UPSTREAM_PIN_MISMATCH',
  });
  // Order does not matter, nor does appending the impostor.
  t.throws(() => verifyPinnedChain([evil.x509, root.x509, impostorCa.x509], [spkiPin(root.x509)]), {
    code: 'UPSTREAM_PIN_MISMATCH',
  });
  t.ok(
    verifyPinnedChain([evil.x509, root.x509, impostorCa.x509], [spkiPin(impostorCa.x509)]).ok,
    'the real signer is reached',
  );
  // The real signer is found among trust anchors, the decoy still never counts.
  t.same(
    verifyPinnedChain([evil.x509, root.x509], [spkiPin(impostorCa.x509)], 'h', [
      root.x509,
      impostorCa.x509,
    ]).seen,
    [spkiPin(evil.x509), spkiPin(impostorCa.x509)],
  );
  t.throws(
    () =>
      verifyPinnedChain([evil.x509, root.x509], [spkiPin(root.x509)], 'h', [
        root.x509,
        impostorCa.x509,
      ]),
    { code: 'UPSTREAM_PIN_MISMATCH' },
  );
});

t.test('the walk stops on loops and self-signed certs', async (t) => {
  const v = verifiedChain([root.x509, root.x509, leaf.x509]);
  t.equal(v.length, 1);
  const v2 = verifiedChain([leaf.x509, intermediate.x509, intermediate.x509, root.x509, root.x509]);
  t.equal(v2.length, 3);
});

t.test(
  'getPeerCertificate(true) adds the root from the trust store although the server does not send it',
  async (t) => {
    const srv = await startHttpsServer({
      certs: [leaf.certPem, intermediate.certPem],
      key: leaf.privateKeyPem,
    });
    t.teardown(() => srv.close());
    const peer = await new Promise<tls.DetailedPeerCertificate>((resolve, reject) => {
      const s = tls.connect(
        { host: '127.0.0.1', port: srv.port, ca: [root.certPem], servername: 'localhost' },
        () => {
          const p = s.getPeerCertificate(true);
          s.end();
          resolve(p);
        },
      );
      s.on('error', reject);
    });
    const certs = peerChainToX509(peer);
    t.same(
      certs.map((c) => c.fingerprint256),
      [leaf.x509.fingerprint256, intermediate.x509.fingerprint256, root.x509.fingerprint256],
    );
    t.ok(
      verifyPinnedChain(peer, [spkiPin(root.x509)], 'localhost').ok,
      'root pin over a live handshake',
    );
    try {
      verifyPinnedChain(peer, ['sha256/' + 'A'.repeat(43) + '='], 'localhost');
      t.fail('should throw');
    } catch (err) {
      t.ok(isModgateError(err, 'UPSTREAM_PIN_MISMATCH'));
    }
  },
);
