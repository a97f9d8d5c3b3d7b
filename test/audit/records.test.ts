import t from 'tap';
import canonicalizeModule from 'canonicalize';
import { canonicalJson } from '../../src/audit/records.js';

type Canonicalize = (input: unknown) => string | undefined;
const cjs = canonicalizeModule as unknown as Canonicalize | { default: Canonicalize };
const reference: Canonicalize = typeof cjs === 'function' ? cjs : cjs.default;

t.test(
  'canonicalJson equals the canonicalize reference (RFC 8785) on varied records',
  async (t) => {
    const samples: unknown[] = [
      { b: 1, a: [3, { z: 'é', y: null }], c: { '\u00e9': true, e: false, '10': 'x', '9': 'y' } },
      { n: [0, -1.5, 1e21, 1e-7, 123456789012345680000, 0.1 + 0.2, 2 ** 53, -0.000001] },
      {
        s: 'quote " backslash \\ control \u0001 \n tab \t emoji 😀 lone \ud800 end',
        u: undefined,
        arr: [undefined, 1],
      },
      { deep: { x: { y: { z: [{ b: 2, a: 1 }] } } }, empty: {}, list: [] },
      {
        type: 'decision',
        seq: 7,
        prev: '0'.repeat(64),
        client: { id: 'ci', groups: ['b', 'a'], address: '::1' },
        codes: [],
      },
    ];
    for (let i = 0; i < 200; i++) {
      const o: Record<string, unknown> = {};
      for (let k = 0; k < 6; k++)
        o[String.fromCharCode(97 + ((i * 7 + k * 13) % 26)) + k] =
          k % 2 ? i * 1.25 - k : `v${i}-${'ä'.repeat(k)}`;
      samples.push(o);
    }
    for (const s of samples) t.equal(canonicalJson(s), reference(s));
    t.throws(() => canonicalJson({ x: NaN }));
    t.throws(() => canonicalJson({ x: Infinity }));
  },
);
