/// <reference lib="dom" />
/**
 * The console in a real browser: Debian's chromium driven by playwright-core
 * (no browser download), against a gateway over a generated trail of 100,000
 * records. Screenshots of each page at 1280 and 390 px go to
 * .artifacts/console-screenshots/ (printed below), kept by CI as artifacts.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { request } from 'undici';
import { hashToken } from '../../src/auth/tokens.js';
import { queryAudit } from '../../src/audit/query.js';
import { modgate } from '../helpers/cli.js';
import { DENIED_MODULE, generateTrail } from '../helpers/console-trail.js';
import { startFakeSumdb } from '../helpers/fake-sumdb.js';
import { startFakeUpstream, makeModule, sumdbRecords } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { repoRoot } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const CHROMIUM = process.env.MODGATE_CHROMIUM ?? '/usr/bin/chromium';
const AUDITOR = 'mgt_browser-auditor';
const PLAIN = 'mgt_browser-plain';
const SHOTS = path.join(repoRoot, '.artifacts', 'console-screenshots');

if (!existsSync(CHROMIUM))
  throw new Error(
    `${CHROMIUM} is missing: apt-get install -y chromium (scripts/test-tools.sh does)`,
  );

// Chromium renders and screenshots fourteen pages: about 75 s with both cores
// busy, and three times that while another test file shares them too.
t.setTimeout(480_000);

const data = path.join(testdir(t), 'data');
const trail = await generateTrail(data, 100_000);
// A checksum database and the vulnerability snapshot, so that the overview's
// panels show a verified tree head and the database's freshness.
const served = await makeModule('example.com/m', 'v1.0.0');
const db = await startFakeSumdb({ records: await sumdbRecords([served], path.dirname(data)) });
const up = await startFakeUpstream([served]);
const gw = await startTestGateway(data, {
  upstream: up.url,
  sumdb: `${db.verifierKey} ${db.url}`,
  vulndb: {
    enabled: true,
    source: path.join(repoRoot, 'test', 'vectors', 'vulndb', 'vulndb-v1-20261105.zip'),
  },
  console: { enabled: true },
  auth: {
    required: true,
    tokens: [
      { id: 'auditor', sha256: hashToken(AUDITOR), groups: [], roles: ['auditor'] },
      { id: 'builder', sha256: hashToken(PLAIN), groups: [] },
    ],
  },
});
await gw.vulndb!.sync();
// One module fetched through the gateway (a miss, then a hit) for the cache and upstream panels.
for (let i = 0; i < 2; i++) {
  const res = await request(`${gw.url}/example.com/m/@v/v1.0.0.zip`, {
    headers: { authorization: `Bearer ${PLAIN}` },
  });
  await res.body.arrayBuffer();
  if (res.statusCode !== 200) throw new Error(`the sample fetch answered ${res.statusCode}`);
}
const browser: Browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--disable-gpu'],
});
t.teardown(async () => {
  await browser.close();
  await gw.close();
  await up.close();
  await db.stop();
});
await mkdir(SHOTS, { recursive: true });
t.comment(`screenshots: ${SHOTS}`);

const since = new Date(trail.to.getTime() - 4 * 86_400_000).toISOString();
const until = new Date(trail.to.getTime() - 86_400_000).toISOString();

async function login(page: Page, token: string): Promise<void> {
  await page.goto(`${gw.url}/console/`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

t.test('anonymous 401, no role 403, in the API and at the login form', async (t) => {
  const anon = await request(`${gw.url}/console/api/decisions`);
  t.equal(anon.statusCode, 401);
  t.match(await anon.body.text(), /^AUTH_REQUIRED/);
  const plain = await request(`${gw.url}/console/api/decisions`, {
    headers: { authorization: `Bearer ${PLAIN}` },
  });
  t.equal(plain.statusCode, 403);
  t.match(await plain.body.text(), /^ROLE_REQUIRED/);
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  await login(page, PLAIN);
  await page
    .getByRole('alert')
    .getByText(/ROLE_REQUIRED/)
    .waitFor();
  await login(page, 'mgt_not-a-token');
  await page.getByRole('alert').getByText('That token is not valid.').waitFor();
  t.same(errors, [], 'nothing broke the Content-Security-Policy');
});

t.test(
  "an auditor filters to one module's denials, opens one and sees its evidence; exports equal the CLI",
  async (t) => {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    t.teardown(() => page.close());
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    await login(page, AUDITOR);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();

    await page.getByRole('link', { name: 'Decisions' }).click();
    await page.getByLabel('Module (glob)').fill(DENIED_MODULE);
    await page.getByLabel('Decision', { exact: true }).selectOption('deny');
    await page.getByLabel('Since (ISO or 24h)').fill(since);
    await page.getByLabel('Until (ISO or 1h)').fill(until);
    await page.getByRole('button', { name: 'Apply' }).click();
    const expected: Array<{
      seq: number;
      evidence?: { h1?: string; sumdb?: { treeSize: number; rootHash: string; recordId: number } };
      policyRevision: string;
    }> = [];
    for await (const r of queryAudit(path.join(data, 'audit'), {
      module: DENIED_MODULE,
      decision: 'deny',
      since: new Date(since),
      until: new Date(until),
      types: ['decision'],
    }))
      if (r.type === 'decision') expected.push(r);
    await page.waitForFunction(
      (n) =>
        document.querySelector('[data-testid=row-count]')?.textContent === String(n) &&
        !document.querySelector('[role=status]')?.textContent?.includes('loading'),
      expected.length,
      { timeout: 60_000 },
    );
    const rows = page.locator('tbody tr[data-id]');
    t.ok((await rows.count()) < 80, 'the table renders only the rows in view');
    t.same(
      await page
        .locator('tbody tr[data-id] td:nth-child(6)')
        .allTextContents()
        .then((d) => [...new Set(d)]),
      ['deny'],
    );
    // A denial with evidence (a .mod or .zip request) is opened from its row.
    const pick = expected.find((r) => r.evidence?.h1)!;
    const row = page.locator(`tbody tr[data-id=":${pick.seq}"]`);
    if (!(await row.count())) {
      const index = expected.indexOf(pick);
      await page.locator('.scroller').evaluate((el, top) => (el.scrollTop = top), index * 34);
    }
    await row.locator('a').click();
    await page.getByRole('heading', { name: `Record :${pick.seq}` }).waitFor();
    const field = (name: string) => page.locator(`dd[data-field=${name}]`).textContent();
    t.equal(await field('h1'), pick.evidence!.h1);
    t.equal(await field('treeSize'), String(pick.evidence!.sumdb!.treeSize));
    t.equal(await field('rootHash'), pick.evidence!.sumdb!.rootHash);
    t.equal(await field('recordId'), String(pick.evidence!.sumdb!.recordId));
    t.equal(await field('policyRevision'), pick.policyRevision);
    t.equal(await field('decision'), 'deny');
    const time = page.locator('dd[data-field=time] time');
    t.match(await time.getAttribute('title'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(UTC\)$/);

    await page.getByRole('link', { name: 'Exports' }).click();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download SBOM' }).click(),
    ]);
    const file = await download.path();
    const sbom = JSON.parse(await readFile(file!, 'utf8')) as Record<string, unknown> & {
      serialNumber?: string;
      metadata: { timestamp?: string };
      components: unknown[];
    };
    const cli = await modgate([
      'audit',
      'export',
      '--data',
      data,
      '--since',
      since,
      '--until',
      until,
    ]);
    t.equal(cli.code, 0, cli.stderr);
    const theirs = JSON.parse(cli.stdout) as typeof sbom;
    for (const b of [sbom, theirs]) {
      delete b.serialNumber;
      delete b.metadata.timestamp;
    }
    t.same(sbom, theirs, 'the SBOM equals modgate audit export for the same period');
    t.ok(sbom.components.length > 5);
    t.same(cspErrors, []);
  },
);

t.test('screenshots of every page at 1280 and 390 px; 10,000 rows virtualised', async (t) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  t.teardown(() => page.close());
  await login(page, AUDITOR);
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const record = `:${trail.records - 10}`;
  const frames = () =>
    page.evaluate(
      () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null)))),
    );
  const pages: Array<[string, string, () => Promise<void>]> = [
    ['overview', '#/overview', () => page.locator('.chart canvas').first().waitFor()],
    [
      'decisions',
      '#/decisions',
      async () => {
        // No filter: the table fills up to its 10,000 rows, of which only those in view are in the DOM.
        await page.waitForFunction(
          () => document.querySelector('[data-testid=row-count]')?.textContent === '10000',
          null,
          { timeout: 60_000 },
        );
        t.ok((await page.locator('tbody tr[data-id]').count()) < 80, '10,000 rows, few in the DOM');
        await page.locator('.scroller').evaluate((el) => (el.scrollTop = 5000 * 34));
        await page.locator('tbody tr[aria-rowindex="5002"]').waitFor();
      },
    ],
    [
      'record',
      `#/record/${encodeURIComponent(record)}`,
      () => page.locator('dd[data-field=seq]').waitFor(),
    ],
    ['modules', '#/modules', () => page.locator('tr[data-module]').first().waitFor()],
    [
      'module',
      `#/module/${encodeURIComponent(DENIED_MODULE)}`,
      () => page.locator('tr[data-version]').first().waitFor(),
    ],
    [
      'integrity',
      '#/integrity',
      async () => {
        await page.getByRole('button', { name: 'Verify now' }).click();
        await page.waitForFunction(
          () => document.querySelector('[data-testid=verify-state]')?.textContent === 'done',
          null,
          { timeout: 60_000 },
        );
        t.equal(
          await page.locator('[data-verdict=ok]').count(),
          1,
          'verify now found the trail intact',
        );
      },
    ],
    ['exports', '#/exports', () => page.getByRole('button', { name: 'Download SBOM' }).waitFor()],
  ];
  for (const [name, hash, ready] of pages) {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${gw.url}/console/${hash}`);
    await ready();
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width > 600 ? 900 : 844 });
      await frames();
      const file = path.join(SHOTS, `${name}-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      t.ok(existsSync(file), `${name} at ${width} px`);
      // Nothing is wider than the viewport but the tables' own scrollers.
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      t.ok(overflow <= 1, `${name} at ${width} px fits its width (${overflow} px over)`);
    }
  }
});
