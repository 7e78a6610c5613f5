// /shellhook over real HTTPS with client certificates, running real hook scripts from a temporary
// directory: Foreman's webhook call (body on stdin, X-Shellhook-Arg-N as arguments, 200 at once),
// the listing, names that try to leave the directory (the plugin runs `..%2F…` names: its
// pattern is unanchored), arguments that a shell would interpret, the hook deadline (the plugin
// has none), and hooks stopped at shutdown.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, symlink, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { fetchUrl, type TlsMaterial } from '../lib/https-client.ts';
import { alive, removeDir, tempDir, waitFor } from '../lib/procs.ts';

let dir: string;
let hooks: string;
let outside: string;
let pki: Pki;
let tls: TlsMaterial;
let proxy: TestProxy;
let base: string;

async function script(path: string, body: string, mode = 0o755): Promise<void> {
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, mode);
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

async function startProxy(extra: Record<string, unknown> = {}): Promise<{ proxy: TestProxy; base: string }> {
  const p = await startTestProxy({
    global: { ...httpsSettings(pki), trusted_hosts: ['foreman.test'], log_level: 'DEBUG' },
    files: { shellhooks: { enabled: 'https', directory: hooks, ...extra } },
  });
  const https = p.proxy.listeners.find((l) => l.spec.scheme === 'https');
  return { proxy: p, base: `https://127.0.0.1:${https?.addresses[0]?.port}` };
}

before(async () => {
  dir = await tempDir('shellhooks');
  hooks = join(dir, 'hooks');
  outside = join(dir, 'outside');
  await mkdir(hooks);
  await mkdir(outside);
  pki = await makePki(dir);
  const foreman = await pki.client('foreman.test');
  tls = { ca: pki.caCert, cert: foreman.cert, key: foreman.key };
  // print_args: one argument per line, then the body, into $OUT_DIR/<first argument>.
  await script(join(hooks, 'print_args'), `out="${dir}/out-$1"\nfor a in "$@"; do printf '%s\\n' "$a"; done > "$out.tmp"\nprintf -- '--\\n' >> "$out.tmp"\ncat >> "$out.tmp"\nmv "$out.tmp" "$out"\necho "ran $1"\necho "warning from $1" >&2`);
  await script(join(hooks, 'sleeper.sh'), `echo $$ > "${dir}/sleeper-$1.pid"\nexec sleep 30`);
  await script(join(hooks, 'not_executable'), 'exit 0', 0o644);
  await writeFile(join(hooks, 'README'), 'hooks live here\n');
  await mkdir(join(hooks, 'subdir'));
  await script(join(outside, 'escape'), `touch "${dir}/escaped"`);
  await symlink(join(outside, 'escape'), join(hooks, 'linked'));
  await script(join(hooks, '.hidden'), `touch "${dir}/hidden-ran"`);
  ({ proxy, base } = await startProxy());
});

after(async () => {
  await proxy?.close();
  if (dir) await removeDir(dir);
});

describe('shellhooks over HTTPS', () => {
  test('GET /shellhook/ lists executable regular files as valid, everything else as invalid', async () => {
    const r = await fetchUrl(`${base}/shellhook/`, { tls });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { valid: ['print_args', 'sleeper.sh'], invalid: ['.hidden', 'README', 'linked', 'not_executable', 'subdir'] });
  });

  test("Foreman's webhook: 200 at once, body on stdin byte for byte, X-Shellhook-Arg-1… as arguments up to the first gap", async () => {
    const body = '{"event":"host_created","object":{"name":"web1.example.test"}}\n';
    const r = await fetchUrl(`${base}/shellhook/print_args`, {
      method: 'POST',
      tls,
      body,
      headers: { 'content-type': 'application/json', 'X-Shellhook-Arg-1': 'json', 'X-Shellhook-Arg-2': 'two words', 'X-Shellhook-Arg-4': 'after a gap' },
    });
    assert.deepEqual([r.status, r.body], [200, '']);
    const out = join(dir, 'out-json');
    await waitFor('the hook to write its output', () => exists(out));
    assert.equal(await readFile(out, 'utf8'), `json\ntwo words\n--\n${body}`);
    await waitFor('the run to be logged', async () => (await readFile(join(proxy.settingsDir, 'proxy.log'), 'utf8')).includes('print_args finished with exit status 0'));
    const log = await readFile(join(proxy.settingsDir, 'proxy.log'), 'utf8');
    assert.match(log, /\[I\] shellhooks: \[\d+\] Started task .*print_args \(2 arguments/);
    assert.match(log, /\[D\] shellhooks: \[\d+\] ran json/);
    assert.match(log, /\[W\] shellhooks: \[\d+\] warning from json/);
  });

  test('a form-encoded body reaches the hook unparsed; shell syntax in arguments stays literal', async () => {
    const r = await fetchUrl(`${base}/shellhook/print_args`, {
      method: 'POST',
      tls,
      body: 'a=1&b=%20two',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'X-Shellhook-Arg-1': 'form', 'X-Shellhook-Arg-2': `$(touch ${dir}/injected); \`id\` | true` },
    });
    assert.equal(r.status, 200);
    const out = join(dir, 'out-form');
    await waitFor('the hook to write its output', () => exists(out));
    assert.equal(await readFile(out, 'utf8'), `form\n$(touch ${dir}/injected); \`id\` | true\n--\na=1&b=%20two`);
    assert.equal(await exists(join(dir, 'injected')), false);
  });

  test('names that leave the directory, hidden files, links, directories and non-executables are refused (the plugin runs ..%2F names)', async () => {
    const refused: [string, RegExp][] = [
      ['..%2Foutside%2Fescape', /^Not a valid shellhook name: "..\/outside\/escape"/],
      ['%2E%2E%2Foutside%2Fescape', /^Not a valid shellhook name/],
      ['.hidden', /^Not a valid shellhook name/],
      ['linked', /^Not a valid shellhook file: no executable regular file linked/],
      ['subdir', /^Not a valid shellhook file/],
      ['not_executable', /^Not a valid shellhook file/],
      ['README', /^Not a valid shellhook file/],
      ['missing', /^Not a valid shellhook file/],
    ];
    for (const [name, message] of refused) {
      const r = await fetchUrl(`${base}/shellhook/${name}`, { method: 'POST', tls, body: '' });
      assert.equal(r.status, 500, name);
      assert.match(r.body, message, name);
    }
    // Nothing outside ran, neither did the hidden hook.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await exists(join(dir, 'escaped')), false);
    assert.equal(await exists(join(dir, 'hidden-ran')), false);
  });

  test('without a client certificate, or with one not in trusted_hosts: 403 and nothing runs', async () => {
    const none = await fetchUrl(`${base}/shellhook/print_args`, { method: 'POST', tls: { ca: pki.caCert }, body: '', headers: { 'X-Shellhook-Arg-1': 'nocert' } });
    assert.equal(none.status, 403);
    const stranger = await pki.client('stranger.test');
    const untrusted = await fetchUrl(`${base}/shellhook/print_args`, {
      method: 'POST',
      tls: { ca: pki.caCert, cert: stranger.cert, key: stranger.key },
      body: '',
      headers: { 'X-Shellhook-Arg-1': 'stranger' },
    });
    assert.equal(untrusted.status, 403);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await exists(join(dir, 'out-nocert')), false);
    assert.equal(await exists(join(dir, 'out-stranger')), false);
  });
});

describe('shellhooks limits', () => {
  test('a hook running past hook_timeout is stopped and the stop is logged (the plugin lets it run forever)', async (t) => {
    const short = await startProxy({ hook_timeout: 1 });
    t.after(() => short.proxy.close());
    const r = await fetchUrl(`${short.base}/shellhook/sleeper.sh`, { method: 'POST', tls, body: '', headers: { 'X-Shellhook-Arg-1': 'timeout' } });
    assert.equal(r.status, 200);
    const pidFile = join(dir, 'sleeper-timeout.pid');
    await waitFor('the hook to start', () => exists(pidFile));
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(alive(pid));
    await waitFor('the hook to be stopped', () => !alive(pid), 10_000);
    await waitFor('the stop to be logged', async () => (await readFile(join(short.proxy.settingsDir, 'proxy.log'), 'utf8')).includes('sleeper.sh was stopped after 1 s'));
  });

  test('shutting the proxy down stops running hooks', async () => {
    const p = await startProxy();
    const r = await fetchUrl(`${p.base}/shellhook/sleeper.sh`, { method: 'POST', tls, body: '', headers: { 'X-Shellhook-Arg-1': 'shutdown' } });
    assert.equal(r.status, 200);
    const pidFile = join(dir, 'sleeper-shutdown.pid');
    await waitFor('the hook to start', () => exists(pidFile));
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    await p.proxy.close();
    await waitFor('the hook to be gone', () => !alive(pid), 10_000);
  });

  test('a missing directory: GET answers 500 naming it', async (t) => {
    const p = await startTestProxy({ files: { shellhooks: { enabled: true, directory: join(dir, 'nope') } } });
    t.after(() => p.close());
    const r = await p.request('GET', '/shellhook/');
    assert.equal(r.status, 500);
    assert.match(r.body, /Cannot list the shellhook directory .*nope: ENOENT/);
  });
});
