// The Salt API (salt-api's rest_cherrypy `POST /run`) for the environment and state listings, as
// the reference calls it: a form with `fun`, `client=runner`, the runner's arguments and the
// credentials (`username`, `password`, `eauth`), answered `{"return": [<runner result>]}`. The
// password travels in the form body only (never a URL, log or answer). TLS verification is
// explicit: off by default as in the reference (salt-api usually runs with a self-signed
// certificate), on with `api_ssl_verify` (against `api_ssl_ca` or the system CAs).

import { readFile } from 'node:fs/promises';
import { Bulkhead } from '../../core/bulkhead.ts';
import { createHttpClient, type HttpClient } from '../../lib/http/client.ts';
import { SaltError } from './errors.ts';

/** What the routes need from the Salt API (api.test.ts fakes it). */
export interface SaltApi {
  /** `return[0]` of runner `fun` with `args`. */
  runner(fun: string, args?: Record<string, string>): Promise<unknown>;
  close(): Promise<void>;
}

export interface SaltApiOptions {
  readonly url: string;
  readonly auth: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly verify: boolean;
  readonly caFile: string | undefined;
  readonly timeoutMs: number;
  readonly bulkhead: Bulkhead;
}

export async function createSaltApi(o: SaltApiOptions): Promise<SaltApi> {
  const ca = o.verify && o.caFile ? await readFile(o.caFile) : undefined;
  const base = new URL(o.url);
  const client: HttpClient = createHttpClient({ baseUrl: base.origin, verify: o.verify, ...(ca ? { ca } : {}), timeoutMs: o.timeoutMs, connections: 4 });
  // `<api_url path>/run`, as the reference joins them.
  const runPath = `${base.pathname.replace(/\/+$/, '')}/run`;
  return {
    async runner(fun, args = {}) {
      const form = new URLSearchParams({ fun, client: 'runner', ...args, username: o.username ?? '', password: o.password ?? '', eauth: o.auth });
      const res = await o.bulkhead.run(() =>
        client.request({ method: 'POST', path: runPath, headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }),
      );
      const text = await res.text(16 * 1024 * 1024);
      if (res.status === 404) throw SaltError.not_found(`Received 404 from Salt API: ${text}`);
      if (res.status !== 200) throw new Error(`Failed to query Salt API (${res.status}): ${text.slice(0, 2000)}`);
      let parsed: { return?: unknown };
      try {
        parsed = JSON.parse(text) as { return?: unknown };
      } catch {
        throw new Error(`Salt API answered something that is not JSON: ${text.slice(0, 200)}`);
      }
      if (!Array.isArray(parsed.return)) throw new Error('Salt API answer has no "return" list');
      return parsed.return[0];
    },
    close: () => client.close(),
  };
}

/** `fileserver.file_list` → state names: `.sls` files except top.sls; `a/init.sls` is `a`; `/` becomes `.`. */
export function stateNames(files: unknown): string[] {
  if (!Array.isArray(files)) throw new Error('fileserver.file_list did not return a list');
  const states: string[] = [];
  for (const file of files) {
    if (typeof file !== 'string' || !file.endsWith('.sls') || file === 'top.sls') continue;
    states.push(file.slice(0, -'.sls'.length).replace(/\/init$/, '').replace(/\/+$/, '').replace(/\//g, '.'));
  }
  return states;
}
