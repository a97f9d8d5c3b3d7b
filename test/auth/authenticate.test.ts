import t from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { isModgateError } from '../../src/errors.js';
import {
  authenticate,
  createAuthenticator,
  createIdentify,
  generateToken,
  hashToken,
  WWW_AUTHENTICATE,
  type AuthOptions,
  type PeerSocket,
} from '../../src/auth/authenticate.js';
import { buildTokenTable, findToken } from '../../src/auth/tokens.js';
import { makeChain, makeLeaf, makeRoot, type BuiltCert } from '../helpers/tls-fixtures.js';

const ALICE = generateToken();
const BOB = generateToken();
const opts: AuthOptions = {
  required: true,
  tokens: [
    { id: 'alice', sha256: hashToken(ALICE), groups: ['dev'] },
    { id: 'bob', sha256: hashToken(BOB).toUpperCase(), groups: [] },
  ],
};
const auth = createAuthenticator(opts);
const basic = (user: string, pass: string): string =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isModgateError(err) ? err.code : `not a ModgateError: ${String(err)}`;
  }
}

t.test('tokens: generate, hash, table validation', async (t) => {
  t.match(ALICE, /^mgt_[A-Za-z0-9_-]{43}$/);
  t.not(ALICE, BOB);
  t.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const table = buildTokenTable(opts.tokens);
  t.equal(findToken(table, BOB)?.id, 'bob', 'upper-case hex accepted');
  t.equal(findToken(table, BOB + 'x'), undefined);
  t.throws(() => buildTokenTable([{ id: 'a', sha256: 'xyz', groups: [] }]), {
    code: 'AUTH_CONFIG_INVALID',
  });
  t.throws(() => buildTokenTable([{ id: 'a b', sha256: hashToken('x'), groups: [] }]), {
    code: 'AUTH_CONFIG_INVALID',
  });
  t.throws(
    () =>
      buildTokenTable([
        { id: 'a', sha256: hashToken('x'), groups: [] },
        { id: 'a', sha256: hashToken('y'), groups: [] },
      ]),
    { code: 'AUTH_CONFIG_INVALID' },
  );
  t.throws(
    () =>
      buildTokenTable([
        { id: 'a', sha256: hashToken('x'), groups: [] },
        { id: 'b', sha256: hashToken('x'), groups: [] },
      ]),
    { code: 'AUTH_CONFIG_INVALID' },
  );
  t.match(WWW_AUTHENTICATE, /Basic realm="modgate"/);
  t.match(WWW_AUTHENTICATE, /Bearer/);
});

t.test('bearer and basic identities', async (t) => {
  t.same(auth({ headers: { authorization: `Bearer ${ALICE}` } }), {
    id: 'alice',
    method: 'bearer',
    groups: ['dev'],
  });
  t.same(auth({ headers: { authorization: `bearer ${BOB}` } }), {
    id: 'bob',
    method: 'bearer',
    groups: [],
  });
  t.same(auth({ headers: { authorization: basic('alice', ALICE) } }), {
    id: 'alice',
    method: 'basic',
    groups: ['dev'],
  });
  t.same(
    authenticate(
      { headers: { authorization: basic('whoever', ALICE) } },
      { ...opts, basicUser: 'any' },
    ),
    { id: 'alice', method: 'basic', groups: ['dev'] },
  );
  const id = auth({ headers: { authorization: `Bearer ${ALICE}` } });
  id.groups.push('admin');
  t.same(
    auth({ headers: { authorization: `Bearer ${ALICE}` } }).groups,
    ['dev'],
    'groups are copies',
  );
});

t.test('missing and wrong credentials', async (t) => {
  t.equal(
    code(() => auth({ headers: {} })),
    'AUTH_REQUIRED',
  );
  t.equal(
    code(() =>
      auth({ headers: {}, socket: { authorized: false, getPeerCertificate: () => ({}) } }),
    ),
    'AUTH_REQUIRED',
    'no client cert',
  );
  t.same(authenticate({ headers: {} }, { ...opts, required: false }), {
    id: 'anonymous',
    method: 'anonymous',
    groups: [],
  });
  const wrong = [
    `Bearer ${ALICE}x`,
    `Bearer ${ALICE.slice(0, -1)}`,
    `Bearer ${hashToken(ALICE)}`,
    basic('bob', ALICE),
    basic('alice', ''),
    basic('', ALICE),
    'Basic !!!',
    `Basic ${Buffer.from(ALICE).toString('base64')}`,
    `Digest ${ALICE}`,
    'Bearer',
    `Bearer ${'a'.repeat(5000)}`,
  ];
  for (const h of wrong)
    t.equal(
      code(() => auth({ headers: { authorization: h } })),
      'AUTH_INVALID',
      h.slice(0, 40),
    );
  t.equal(
    code(() =>
      authenticate({ headers: { authorization: 'Bearer nope' } }, { ...opts, required: false }),
    ),
    'AUTH_INVALID',
    'wrong token is not downgraded to anonymous',
  );
});

t.test('client certificate identities', async (t) => {
  const sock = (authorized: boolean, cn?: string): PeerSocket => ({
    authorized,
    authorizationError: authorized ? null : 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    getPeerCertificate: () => ({
      subject: (cn ? { CN: cn } : {}) as Record<string, string>,
      raw: Buffer.from('x'),
    }),
  });
  t.same(auth({ headers: {}, socket: sock(true, 'alice') }), {
    id: 'alice',
    method: 'mtls',
    groups: ['dev'],
  });
  t.same(
    authenticate(
      { headers: {}, socket: sock(true, 'ci') },
      { ...opts, clientGroups: { ci: ['build'] } },
    ),
    { id: 'ci', method: 'mtls', groups: ['build'] },
  );
  t.equal(
    code(() => auth({ headers: {}, socket: sock(false, 'alice') })),
    'AUTH_INVALID',
  );
  t.equal(
    code(() =>
      authenticate({ headers: {}, socket: sock(false, 'alice') }, { ...opts, required: false }),
    ),
    'AUTH_INVALID',
    'bad cert is not anonymous',
  );
  t.equal(
    code(() => auth({ headers: {}, socket: sock(true) })),
    'AUTH_INVALID',
    'no CN',
  );
  t.equal(
    code(() => auth({ headers: { authorization: 'Bearer nope' }, socket: sock(true, 'alice') })),
    'AUTH_INVALID',
    'header decides',
  );
  t.equal(
    code(() =>
      authenticate({ headers: {}, socket: sock(true, 'alice') }, { ...opts, mtls: false }),
    ),
    'AUTH_REQUIRED',
  );
});

t.test('over real HTTP/1.1 and HTTP/2 connections with client certificates', async (t) => {
  const chain = makeChain();
  const clientCa = makeRoot('Client CA');
  const alice = makeLeaf(clientCa, { name: 'alice', sans: [] });
  const impostor = makeLeaf(makeRoot('Client CA'), { name: 'alice', sans: [] });
  const app = Fastify({
    http2: true,
    https: {
      allowHTTP1: true,
      cert: chain.leaf.certPem + chain.intermediate.certPem,
      key: chain.leaf.privateKeyPem,
      ca: clientCa.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
  } as never) as unknown as FastifyInstance;
  const identify = createIdentify(opts);
  app.get('/who', async (req, reply) => {
    try {
      return identify(req);
    } catch (err) {
      return reply
        .code(401)
        .header('www-authenticate', WWW_AUTHENTICATE)
        .send({ code: isModgateError(err) ? err.code : 'x' });
    }
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const port = (app.server.address() as AddressInfo).port;
  const tlsOpts = (c?: BuiltCert) => ({
    ca: chain.root.certPem,
    servername: 'localhost',
    ...(c ? { cert: c.certPem, key: c.privateKeyPem } : {}),
  });

  const h1 = (c?: BuiltCert, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      https
        .get(
          { host: '127.0.0.1', port, path: '/who', agent: false, headers, ...tlsOpts(c) },
          (res) => {
            let b = '';
            res
              .on('data', (d) => (b += d))
              .on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) }));
          },
        )
        .on('error', reject);
    });
  const h2 = (c?: BuiltCert, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const s = http2.connect(`https://127.0.0.1:${port}`, tlsOpts(c));
      s.on('error', reject);
      const r = s.request({ ':path': '/who', ...headers });
      let status = 0;
      let b = '';
      r.on('response', (h) => (status = Number(h[':status'])));
      r.on('data', (d) => (b += d)).on(
        'end',
        () => (s.close(), resolve({ status, body: JSON.parse(b) })),
      );
      r.end();
    });

  for (const [name, get] of [
    ['HTTP/1.1', h1],
    ['HTTP/2', h2],
  ] as const) {
    t.same(
      (await get(alice)).body,
      { id: 'alice', method: 'mtls', groups: ['dev'] },
      `${name}: client cert identity`,
    );
    t.same(
      await get(impostor),
      { status: 401, body: { code: 'AUTH_INVALID' } },
      `${name}: wrong client cert refused`,
    );
    t.same(
      await get(),
      { status: 401, body: { code: 'AUTH_REQUIRED' } },
      `${name}: missing token refused`,
    );
    t.same(
      (await get(undefined, { authorization: `Bearer ${BOB}` })).body,
      { id: 'bob', method: 'bearer', groups: [] },
      `${name}: bearer`,
    );
    t.same(
      await get(undefined, { authorization: `Bearer ${BOB}0` }),
      { status: 401, body: { code: 'AUTH_INVALID' } },
      `${name}: wrong token`,
    );
  }
});

t.test('roles: from the token entry, and from auth.subjects by certificate CN', async (t) => {
  const AUDITOR = generateToken();
  const o: AuthOptions = {
    required: true,
    tokens: [
      { id: 'carol', sha256: hashToken(AUDITOR), groups: [], roles: ['auditor'] },
      { id: 'alice', sha256: hashToken(ALICE), groups: ['dev'] },
    ],
    subjectRoles: { 'ops.example.com': ['admin'], constructor: ['admin'] },
  };
  const a = createAuthenticator(o);
  t.same(a({ headers: { authorization: `Bearer ${AUDITOR}` } }), {
    id: 'carol',
    method: 'bearer',
    groups: [],
    roles: ['auditor'],
  });
  t.same(a({ headers: { authorization: `Bearer ${ALICE}` } }).roles, undefined, 'no role');
  const cert = (cn: string): PeerSocket => ({
    authorized: true,
    getPeerCertificate: () => ({ subject: { CN: cn }, raw: Buffer.from('x') }),
  });
  const ops = a({ headers: {}, socket: cert('ops.example.com') });
  t.same(ops.roles, ['admin']);
  ops.roles!.push('auditor');
  t.same(a({ headers: {}, socket: cert('ops.example.com') }).roles, ['admin'], 'a copy each time');
  t.same(a({ headers: {}, socket: cert('nobody.example.com') }).roles, undefined);
  t.same(a({ headers: {}, socket: cert('toString') }).roles, undefined, 'own keys only');
});
