import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  asIssuer,
  buildCert,
  generateRsaKey,
  type BuiltCert,
  type KeyPair,
} from '../../src/tls/x509-build.js';

export type { BuiltCert };

export interface Chain {
  root: BuiltCert;
  intermediate: BuiltCert;
  leaf: BuiltCert;
}

const LOCAL_SANS = ['localhost', '127.0.0.1', '::1'];

export function makeRoot(name = 'Test Root CA', keys?: KeyPair): BuiltCert {
  return buildCert({
    commonName: name,
    organization: 'modgate tests',
    isCA: true,
    days: 30,
    ...(keys ? { keys } : {}),
  });
}

export function makeIntermediate(root: BuiltCert, name = 'Test Intermediate CA'): BuiltCert {
  return buildCert({
    commonName: name,
    organization: 'modgate tests',
    isCA: true,
    days: 30,
    issuer: asIssuer(root),
  });
}

export function makeLeaf(
  issuer: BuiltCert,
  opts: { name?: string; sans?: string[]; days?: number; notBefore?: Date } = {},
): BuiltCert {
  return buildCert({
    commonName: opts.name ?? 'localhost',
    sans: opts.sans ?? LOCAL_SANS,
    issuer: asIssuer(issuer),
    days: opts.days ?? 30,
    ...(opts.notBefore ? { notBefore: opts.notBefore } : {}),
  });
}

/** Root -> intermediate -> leaf for localhost / 127.0.0.1 / ::1. */
export function makeChain(rootName?: string): Chain {
  const root = makeRoot(rootName);
  const intermediate = makeIntermediate(root);
  return { root, intermediate, leaf: makeLeaf(intermediate) };
}

/**
 * A chain that merely names `pinned` as its CA: an impostor CA with the same
 * distinguished name but its own key signs the leaf. The impostor must be
 * trusted by the client for the handshake to pass; the real pinned CA
 * certificate can be sent alongside to fool a name-only chain walk.
 */
export function makeImpostorChain(pinned: BuiltCert): { impostorCa: BuiltCert; leaf: BuiltCert } {
  const impostorCa = buildCert({
    commonName: pinned.x509.subject.match(/CN=([^\n]+)/)?.[1] ?? 'x',
    organization: pinned.x509.subject.match(/O=([^\n]+)/)?.[1] ?? 'x',
    isCA: true,
    days: 30,
    keys: generateRsaKey(),
  });
  return { impostorCa, leaf: makeLeaf(impostorCa) };
}

export interface TestHttpsServer {
  url: string;
  port: number;
  server: https.Server;
  requests: number;
  close(): Promise<void>;
}

export interface ServerSpec {
  /** PEM certificates the server sends, leaf first. */
  certs: string[];
  key: string;
  handler?: (req: IncomingMessage, res: ServerResponse) => void;
  requestCert?: boolean;
  ca?: string[];
}

/** An HTTPS server on 127.0.0.1:0 answering "ok <path>". */
export async function startHttpsServer(spec: ServerSpec): Promise<TestHttpsServer> {
  const state = { requests: 0 };
  const server = https.createServer(
    {
      cert: spec.certs.join(''),
      key: spec.key,
      requestCert: spec.requestCert ?? false,
      rejectUnauthorized: false,
      ...(spec.ca ? { ca: spec.ca } : {}),
    },
    (req, res) => {
      state.requests++;
      if (spec.handler) return spec.handler(req, res);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${req.url}`);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    server,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
