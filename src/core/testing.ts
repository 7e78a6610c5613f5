// Test harness: runs the real core in-process on a generated settings directory, with a plain HTTP
// listener on a free 127.0.0.1 port (no trusted_hosts, no HTTPS unless the test's `global` asks
// for it), so module tests exercise real sockets, real settings loading and the real error
// conventions.

import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as undiciRequest } from 'undici';
import { stringify } from 'yaml';
import { startProxy, type RunningProxy } from './runtime.ts';

export interface TestProxyOptions {
  /** settings.yml keys (no leading colons needed). http_port defaults to 0 (a free port). */
  global?: Record<string, unknown>;
  /** settings.d files by name (`dns`, `dns_nsupdate`, …) as plain objects or raw YAML text. */
  files?: Record<string, Record<string, unknown> | string>;
  only?: string[];
  bundle?: string;
  /** Use this settings directory instead of generating one (files/global then ignored). */
  settingsDir?: string;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface TestRequestOptions {
  /** A string is sent as is; an object is form-encoded (what Foreman sends). */
  body?: string | Record<string, string>;
  headers?: Record<string, string>;
}

export interface TestProxy {
  baseUrl: string;
  settingsDir: string;
  proxy: RunningProxy;
  request(method: string, path: string, options?: TestRequestOptions): Promise<TestResponse>;
  close(): Promise<void>;
}

/** Write a settings directory: settings.yml + settings.d/<name>.yml. */
export async function writeSettingsDir(dir: string, global: Record<string, unknown>, files: Record<string, Record<string, unknown> | string> = {}): Promise<void> {
  await mkdir(join(dir, 'settings.d'), { recursive: true });
  await writeFile(join(dir, 'settings.yml'), `---\n${stringify(global)}`);
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, 'settings.d', `${name}.yml`), typeof content === 'string' ? content : `---\n${stringify(content)}`);
  }
}

export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  let dir = opts.settingsDir;
  let owned = false;
  if (!dir) {
    dir = await mkdtemp(join(tmpdir(), 'sp-settings-'));
    owned = true;
    const global = { bind_host: ['127.0.0.1'], http_port: 0, log_file: join(dir, 'proxy.log'), log_level: 'DEBUG', ...opts.global };
    await writeSettingsDir(dir, global, opts.files);
  }
  const proxy = await startProxy({ settingsDir: dir, only: opts.only, bundle: opts.bundle });
  const http = proxy.listeners.find((l) => l.spec.scheme === 'http');
  const addr = http?.addresses[0];
  const baseUrl = addr ? `http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}` : '';
  return {
    baseUrl,
    settingsDir: dir,
    proxy,
    async request(method, path, options = {}) {
      if (!baseUrl) throw new Error('startTestProxy: no HTTP listener');
      const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
      let body: string | undefined;
      if (typeof options.body === 'string') body = options.body;
      else if (options.body) {
        body = new URLSearchParams(options.body).toString();
        headers['content-type'] ??= 'application/x-www-form-urlencoded';
      }
      const res = await undiciRequest(`${baseUrl}${path}`, { method: method as 'GET', headers, body });
      const text = await res.body.text();
      const outHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) outHeaders[k] = Array.isArray(v) ? v.join(', ') : String(v);
      return { status: res.statusCode, headers: outHeaders, body: text };
    },
    async close() {
      await proxy.close(2000);
      if (owned) await rm(dir, { recursive: true, force: true });
    },
  };
}
