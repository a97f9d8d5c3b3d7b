/**
 * `modgate import` reads an export through a loopback HTTP server of its own,
 * so that its artifacts enter the gateway exactly as fetched ones do: the
 * export is the gateway's only upstream and its checksum-database evidence the
 * only database, for the duration of the import. The server answers GETs of
 * files under DIR (the GOPROXY tree; /sumdb/<name>/... from DIR/sumdb/<name>/),
 * nothing outside it (no `..`, no escapes, no symbolic links out of DIR), and
 * keeps the bytes of every lookup it served, for the lookups the import keeps.
 */
import { createServer, type Server } from 'node:http';
import { readFile, realpath } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const SAFE = /^\/[A-Za-z0-9!._~+@/-]*$/;
const MAX_FILE = 1 << 30;

export interface ExportServer {
  url: string;
  /** The lookup answers served, by their path under /sumdb/<name> ("/lookup/M@V"). */
  lookups: Map<string, Buffer>;
  close(): Promise<void>;
}

export async function startExportServer(dir: string, sumdbName?: string): Promise<ExportServer> {
  const root = await realpath(dir);
  const lookups = new Map<string, Buffer>();
  const prefix = sumdbName ? `/sumdb/${sumdbName}` : undefined;
  const server: Server = createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0]!;
    const send = (status: number, body: Buffer | string = ''): void => {
      res.writeHead(status, { 'content-type': 'application/octet-stream' }).end(body);
    };
    if (req.method !== 'GET' || !SAFE.test(p) || p.split('/').some((e) => e === '.' || e === '..'))
      return send(404);
    if (prefix && p === `${prefix}/supported`) return send(200);
    void (async () => {
      try {
        const file = await realpath(path.join(root, ...p.split('/').filter(Boolean)));
        if (!file.startsWith(root + path.sep)) return send(404);
        const body = await readFile(file);
        if (body.length > MAX_FILE) return send(404);
        if (prefix && p.startsWith(`${prefix}/lookup/`)) lookups.set(p.slice(prefix.length), body);
        send(200, body);
      } catch {
        send(404);
      }
    })();
  });
  await new Promise<void>((resolve, reject) =>
    server.once('error', reject).listen(0, '127.0.0.1', () => resolve()),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    lookups,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
