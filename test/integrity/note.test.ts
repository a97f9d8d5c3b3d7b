import t from 'tap';
import { isModgateError } from '../../src/errors.js';
import {
  decodeStdBase64,
  generateKeyPair,
  keyHash,
  MAX_NOTE_BYTES,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from '../../src/integrity/note.js';

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return isModgateError(e) ? e.code : `non-ModgateError: ${String(e)}`;
  }
}

const alice = generateKeyPair('alice.example/log');
const bob = generateKeyPair('bob.example');
const aliceV = parseVerifierKey(alice.verifier);
const aliceS = parseSignerKey(alice.signer);
const bobS = parseSignerKey(bob.signer);

t.test('generated keys sign and verify', async (t) => {
  t.equal(aliceV.name, 'alice.example/log');
  t.equal(aliceS.keyHash, aliceV.keyHash);
  t.match(alice.verifier, /^alice\.example\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
  const msg = signNote('hello\nworld\n', [aliceS]);
  const n = openNote(msg, [aliceV]);
  t.equal(n.text, 'hello\nworld\n');
  t.equal(n.sigs.length, 1);
  t.same(n.unverified, []);
  t.equal(n.sigs[0]!.hash, aliceV.keyHash);
  const raw = decodeStdBase64(alice.verifier.split('+').slice(2).join('+'))!;
  t.equal(keyHash(aliceV.name, raw), aliceV.keyHash);
});

t.test('signatures from unknown keys are kept as unverified (witness cosignatures)', async (t) => {
  const msg = signNote('tree\n', [aliceS, bobS]);
  const n = openNote(msg, [aliceV]);
  t.same(
    n.unverified.map((s) => s.name),
    ['bob.example'],
  );
  t.equal(
    codeOf(() => openNote(msg, [parseVerifierKey(generateKeyPair('carol').verifier)])),
    'NOTE_UNVERIFIED',
  );
  t.equal(
    codeOf(() => openNote(msg, [])),
    'NOTE_UNVERIFIED',
  );
});

t.test('a known key whose signature does not verify is refused', async (t) => {
  const msg = signNote('amount: 10\n', [aliceS]).toString('utf8');
  t.equal(
    codeOf(() => openNote(msg.replace('10', '99'), [aliceV])),
    'NOTE_BAD_SIGNATURE',
  );
  const sigStart = msg.lastIndexOf(' ') + 1;
  const raw = Buffer.from(msg.slice(sigStart, -1), 'base64');
  raw[10] = raw[10]! ^ 1;
  const forged = `${msg.slice(0, sigStart)}${raw.toString('base64')}\n`;
  t.equal(
    codeOf(() => openNote(forged, [aliceV])),
    'NOTE_BAD_SIGNATURE',
  );
  const impostor = generateKeyPair('alice.example/log');
  const byImpostor = signNote('amount: 10\n', [parseSignerKey(impostor.signer)]);
  t.equal(
    codeOf(() => openNote(byImpostor, [aliceV])),
    'NOTE_UNVERIFIED',
    'same name, other key',
  );
});

t.test('malformed notes', async (t) => {
  const good = signNote('text\n', [aliceS]).toString('utf8');
  const sigLine = good.slice(good.indexOf('— '));
  const cases: Array<[string, string | Buffer]> = [
    ['no blank line', 'text\n' + sigLine],
    ['no signatures', 'text\n\n'],
    ['signature block without final newline', good.slice(0, -1)],
    ['line without the dash prefix', `text\n\n- ${sigLine.slice(2)}`],
    ['extra line after signatures', `${good}junk\n`],
    ['bad base64', good.replace(/ ([A-Za-z0-9+/]{10})/, ' $1*')],
    ['unpadded base64', good.replace(/=\n$/, '\n')],
    ['name with a plus', good.replace('alice.example/log', 'alice+x')],
    ['short signature', 'text\n\n— alice AAAA\n'],
    ['tab in text', 'te\txt\n\n' + sigLine],
    ['carriage return', 'text\r\n\n' + sigLine],
    ['NUL', 'te\u0000xt\n\n' + sigLine],
    ['invalid UTF-8', Buffer.concat([Buffer.from([0xc3, 0x28]), Buffer.from(good)])],
    [
      'surrogate encoded in UTF-8',
      Buffer.concat([Buffer.from([0xed, 0xa0, 0x80, 0x0a]), Buffer.from(good)]),
    ],
    ['101 signatures', 'text\n\n' + sigLine.repeat(101)],
    ['too large', `${'a'.repeat(MAX_NOTE_BYTES)}\n\n${sigLine}`],
  ];
  for (const [desc, msg] of cases)
    t.equal(
      codeOf(() => openNote(msg, [aliceV])),
      'NOTE_MALFORMED',
      desc,
    );
  t.ok(openNote('text\n\n' + sigLine.repeat(100), [aliceV]), '100 identical signatures are fine');
  t.equal(
    codeOf(() => signNote('no newline', [aliceS])),
    'NOTE_MALFORMED',
  );
});

t.test('key parsing is strict', async (t) => {
  const [name = '', hash = '', ...rest] = alice.verifier.split('+');
  const key = rest.join('+');
  const raw = decodeStdBase64(key)!;
  const alg2 = Buffer.from(raw);
  alg2[0] = 2;
  const bad = [
    '',
    name,
    `${name}+${hash}`,
    `${name}+${hash}+`,
    `${name}+${hash.toUpperCase()}0+${key}`,
    `${name}+${((parseInt(hash, 16) ^ 1) >>> 0).toString(16).padStart(8, '0')}+${key}`,
    `${name}+${hash}+${key.slice(0, -1)}`,
    `${name}+${hash}+${raw.subarray(0, 32).toString('base64')}`,
    `${name}+${keyHash(name, alg2).toString(16).padStart(8, '0')}+${alg2.toString('base64')}`,
    `bad name+${hash}+${key}`,
    `a\u00a0b+${hash}+${key}`,
    `${name}+${hash}+${key}+extra`,
  ];
  for (const k of bad)
    t.equal(
      codeOf(() => parseVerifierKey(k)),
      'NOTE_KEY_INVALID',
      JSON.stringify(k),
    );
  t.equal(
    codeOf(() => parseSignerKey(alice.verifier)),
    'NOTE_KEY_INVALID',
  );
  t.equal(
    codeOf(() => parseSignerKey(alice.signer.replace('PRIVATE', 'private'))),
    'NOTE_KEY_INVALID',
  );
  t.equal(
    codeOf(() => parseSignerKey(alice.signer.replace(hash, bob.verifier.split('+')[1]!))),
    'NOTE_KEY_INVALID',
  );
  for (const n of ['', 'a b', 'a+b', 'a\u2028b', 'a\u0085b', 'a\u3000b']) {
    t.equal(
      codeOf(() => generateKeyPair(n)),
      'NOTE_KEY_INVALID',
      escape(n),
    );
  }
  t.ok(parseVerifierKey(generateKeyPair('名前.example').verifier), 'non-ASCII names are allowed');
});

t.test('base64 matches Go StdEncoding', async (t) => {
  t.same(decodeStdBase64('AAE='), Buffer.from([0, 1]));
  t.same(decodeStdBase64('AA\r\nE='), Buffer.from([0, 1]));
  for (const s of ['AAE', 'AAE==', 'A', '====', 'AA-_', 'AAE= '])
    t.equal(decodeStdBase64(s), null, s);
});
