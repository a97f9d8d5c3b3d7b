import t from 'tap';
import { conformance, readJson } from '../helpers/testdata.js';
import { parseProxyList } from '../../src/upstream/proxy-list.js';

interface Case {
  GOPROXY: string;
  err: string | null;
  list: Array<{ url: string; fallBackOnError: boolean }> | null;
}

t.test('GOPROXY list parsing matches cmd/go', async (t) => {
  conformance(t);
  const { goproxyListParsing } = await readJson<{ goproxyListParsing: Case[] }>(
    'go',
    'goproxy_protocol.json',
  );
  t.ok(goproxyListParsing.length >= 16);
  for (const c of goproxyListParsing) {
    if (c.err) {
      t.throws(
        () => parseProxyList(c.GOPROXY),
        { code: 'UPSTREAM_LIST_INVALID', message: c.err },
        c.GOPROXY,
      );
    } else {
      t.same(parseProxyList(c.GOPROXY), c.list, c.GOPROXY);
    }
  }
});
