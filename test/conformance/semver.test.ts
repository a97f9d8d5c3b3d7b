import t from 'tap';
import {
  build,
  canonical,
  compare,
  isValid,
  major,
  majorMinor,
  max,
  prerelease,
  sort,
} from '../../src/integrity/semver.js';
import { conformance, readJson } from '../helpers/testdata.js';

interface Case {
  in: string;
  isValid: boolean;
  canonical: string;
  major: string;
  majorMinor: string;
  prerelease: string;
  build: string;
}

interface Table {
  cases: Case[];
  extraGenerated: Case[];
  compare: number[][];
  max: string[][];
  sorted: string[];
}

t.test('semver.json', async (t) => {
  conformance(t);
  const d = await readJson<Table>('xmod-tables', 'semver.json');
  t.equal(d.cases.length, 32);
  for (const c of [...d.cases, ...d.extraGenerated]) {
    t.same(
      [
        isValid(c.in),
        canonical(c.in),
        major(c.in),
        majorMinor(c.in),
        prerelease(c.in),
        build(c.in),
      ],
      [c.isValid, c.canonical, c.major, c.majorMinor, c.prerelease, c.build],
      `parse ${JSON.stringify(c.in)}`,
    );
  }
  let cells = 0;
  for (let i = 0; i < d.cases.length; i++) {
    for (let j = 0; j < d.cases.length; j++) {
      const a = d.cases[i]!.in;
      const b = d.cases[j]!.in;
      if (compare(a, b) !== d.compare[i]![j])
        t.fail(`Compare(${a}, ${b}) = ${compare(a, b)}, want ${d.compare[i]![j]}`);
      if (max(a, b) !== d.max[i]![j])
        t.fail(`Max(${a}, ${b}) = ${max(a, b)}, want ${d.max[i]![j]}`);
      cells++;
    }
  }
  t.equal(cells, 32 * 32, 'every Compare and Max cell checked');
  t.same(sort(d.cases.map((c) => c.in).reverse()), d.sorted, 'Sort');
});
