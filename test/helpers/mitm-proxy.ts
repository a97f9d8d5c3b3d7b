/**
 * A TLS-inspecting egress proxy on 127.0.0.1:0, as companies run them: it
 * answers CONNECT, terminates the client's TLS with a certificate from its own
 * interception CA, and re-originates each request to the real upstream over
 * TLS that it verifies itself.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { makeLeaf, makeRoot, type BuiltCert } from './tls-fixtures.js';

export interface MitmProxy {
  url: string;
  /** The interception CA: what a company's IT hands out. */
  ca: BuiltCert;
  /** The certificate it presents for every host. */
  leaf: BuiltCert;
  /** CONNECT tunnels opened, and requests re-originated upstream. */
  readonly connects: number;
  readonly forwarded: number;
  close(): Promise<void>;
}

export async function startMitmProxy(opts: { upstreamCa: string[] }): Promise<MitmProxy> {
  const ca = makeRoot('Corp TLS Inspection CA');
  const leaf = makeLeaf(ca);
  const state = { connects: 0, forwarded: 0 };
  const targets = new WeakMap<Socket, { host: string; port: number }>();
  const sockets = new Set<Socket>();
  const inner = http.createServer((req, res) => {
    const target = targets.get(req.socket);
    if (!target) return void res.writeHead(502).end('no target\n');
    state.forwarded++;
    const up = https.request(
      {
        host: target.host,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        ca: opts.upstreamCa,
      },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const front = http.createServer();
  front.on('connect', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    state.connects++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const m = /^(.+):(\d+)$/.exec(req.url ?? '');
    if (!m) return void socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    const intercepted = new tls.TLSSocket(socket, {
      isServer: true,
      cert: leaf.certPem + ca.certPem,
      key: leaf.privateKeyPem,
    });
    targets.set(intercepted, { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) });
    intercepted.on('error', () => socket.destroy());
    inner.emit('connection', intercepted);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    ca,
    leaf,
    get connects() {
      return state.connects;
    },
    get forwarded() {
      return state.forwarded;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        inner.closeAllConnections();
        front.closeAllConnections();
        front.close(() => resolve());
      }),
  };
}
