// A stand-in for Katello's container registry API as the container gateway calls it (spec
// content.md §2.3.2): `GET <path>token` (Basic credentials → a registry token; no credentials →
// the `unauthenticated` token; bad credentials → 401) and `GET <path>_catalog` (the user's
// readable repositories, or a host's when the `HostUUID` header is sent). Plain HTTP on loopback.
// Tests name it "stand-in": it is not Katello, only its answers.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface KatelloStandInOptions {
  /** name → password and readable private repositories. */
  users: Record<string, { password: string; repositories: string[] }>;
  /** host UUID → readable private repositories. */
  hosts?: Record<string, string[]>;
  /** Repositories anyone may pull (token `unauthenticated` for their scope). */
  publicRepositories?: string[];
  /** Token lifetime in seconds. */
  expiresIn?: number;
  /** Registry path (`katello_registry_path`). */
  path?: string;
}

export interface KatelloStandIn {
  readonly url: string;
  readonly port: number;
  /** Every call: method, path with query, selected headers. */
  readonly calls: { path: string; authorization?: string; hostuuid?: string }[];
  close(): Promise<void>;
}

function basic(req: IncomingMessage): { user: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}

export async function startKatelloStandIn(options: KatelloStandInOptions): Promise<KatelloStandIn> {
  const prefix = options.path ?? '/v2/';
  const calls: KatelloStandIn['calls'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://katello');
    calls.push({ path: url.pathname + url.search, authorization: req.headers.authorization, hostuuid: req.headers.hostuuid as string | undefined });
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const creds = basic(req);
    const user = creds ? options.users[creds.user] : undefined;
    const authenticated = !!user && user.password === creds?.password;
    if (url.pathname === `${prefix}token`) {
      if (!req.headers.authorization) {
        send(200, { token: 'unauthenticated', expires_in: 180, issued_at: new Date().toISOString() });
        return;
      }
      if (!authenticated) {
        send(401, { error: 'Unable to authenticate' });
        return;
      }
      send(200, { token: randomBytes(24).toString('base64url'), expires_in: options.expiresIn ?? 3600, issued_at: new Date().toISOString() });
      return;
    }
    if (url.pathname === `${prefix}_catalog`) {
      const uuid = req.headers.hostuuid;
      if (typeof uuid === 'string') {
        const repos = options.hosts?.[uuid];
        if (!repos) send(404, { error: 'host not found' });
        else send(200, { repositories: [...repos, ...(options.publicRepositories ?? [])] });
        return;
      }
      if (!authenticated) {
        send(401, { error: 'Unable to authenticate' });
        return;
      }
      send(200, { repositories: [...(user?.repositories ?? []), ...(options.publicRepositories ?? [])] });
      return;
    }
    send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
