// Push mode end to end: the whole proxy over HTTPS (Foreman's client certificate), the real dynflow
// engine on a SQLite file, the in-process SSH runner against real OpenSSH servers on loopback, and
// a stand-in Foreman receiving the callbacks. 100 "hosts" are 7 sshd processes listening on 15
// loopback addresses each (sshd serves at most 16 listen sockets), so every host has its own name;
// the six extra processes share the first one's users and keys.
// Remote processes are checked with pgrep on this machine (the hosts are this machine).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { randomInt, randomUUID } from 'node:crypto';
import { execFileP, freeTcpPort, removeDir, requireCommand, startDaemon, stopDaemon, tempDir, waitFor, waitForDaemon, type Daemon } from '../lib/procs.ts';
import { startSshd, type Sshd } from '../lib/sshd.ts';
import { portOf } from '../lib/proxy-process.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { host, launchBody, pidsMatching, startRexBench, type BatchHost, type CallbackBody, type RexBench } from './harness.ts';

const SSHD_COUNT = 7;
const ADDRESSES_PER_SSHD = 15;

interface Target {
  readonly hostname: string;
  readonly port: number;
  /** Users, keys and the remote working directory (shared by every sshd process). */
  readonly sshd: Sshd;
}

/**
 * One more sshd process with the configuration of `base` (its host key, users, authorized keys)
 * on other loopback addresses and its own port. Creating users is what makes startSshd slow, so
 * the extra processes share the first one's.
 */
async function extraSshd(base: Sshd, addresses: readonly string[], dir: string, name: string): Promise<{ port: number; daemon: Daemon }> {
  const port = await freeTcpPort(addresses[0]);
  const config = (await readFile(join(base.dir, 'sshd_config'), 'utf8'))
    .split('\n')
    .filter((l) => !/^(Port|ListenAddress|PidFile) /.test(l))
    .concat([`Port ${port}`, ...addresses.map((a) => `ListenAddress ${a}`), `PidFile ${join(dir, `${name}.pid`)}`])
    .join('\n');
  const file = join(dir, `${name}_config`);
  await writeFile(file, `${config}\n`);
  const daemon = startDaemon(name, requireCommand('sshd'), ['-D', '-e', '-f', file], dir);
  await waitForDaemon(daemon, `${name} to listen`, () => accepts(addresses[0] as string, port));
  return { port, daemon };
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = netConnect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

describe('push mode over ssh2 against real sshd, callbacks to a stand-in Foreman', () => {
  let dir: string;
  let bench: RexBench;
  let base: Sshd | undefined;
  let pub = '';
  const daemons: Daemon[] = [];
  const targets: Target[] = [];
  // Markers of remote processes started by these tests, killed at the end whatever happened.
  const markers: string[] = [];

  /** A `sleep` whose command line is unique to this test run (found with pgrep -f). */
  const marker = (): string => {
    const m = `sleep ${4000 + randomInt(1000)}.${randomInt(100000, 999999)}`;
    markers.push(m);
    return m;
  };

  const input = (t: Target, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    hostname: t.hostname,
    ssh_port: t.port,
    ssh_user: t.sshd.users.nopw.name,
    effective_user: t.sshd.users.nopw.name,
    remote_working_dir: t.sshd.workDir,
    proxy_url: bench.origin(),
    ...extra,
  });

  const launch = async (hosts: readonly BatchHost[]): Promise<string> => {
    const res = await bench.call('POST', '/dynflow/tasks/launch', launchBody(hosts));
    assert.equal(res.status, 200, res.body);
    const body = JSON.parse(res.body) as { parent: { result: string; task_id: string } };
    assert.equal(body.parent.result, 'success');
    return body.parent.task_id;
  };

  const text = (cb: CallbackBody | undefined): string => (cb?.data.result ?? []).map((e) => e.output).join('');

  before(async () => {
    dir = await tempDir('rex-push');
    const key = join(dir, 'id_rsa_foreman_proxy');
    await execFileP(requireCommand('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', 'foreman-proxy', '-f', key]);
    pub = await readFile(`${key}.pub`, 'utf8');
    const addresses = (k: number) => Array.from({ length: ADDRESSES_PER_SSHD }, (_, j) => `127.77.${k}.${j + 1}`);
    const first = await startSshd({ addresses: addresses(0) });
    base = first;
    // The proxy's key is authorized for the login user.
    await appendFile(join(first.dir, 'authorized_keys', first.users.nopw.name), pub);
    for (const a of first.addresses) targets.push({ hostname: a, port: first.port, sshd: first });
    for (let k = 1; k < SSHD_COUNT; k++) {
      const extra = await extraSshd(first, addresses(k), dir, `sshd${k}`);
      daemons.push(extra.daemon);
      for (const a of addresses(k)) targets.push({ hostname: a, port: extra.port, sshd: first });
    }
    bench = await startRexBench({
      dir,
      script: {
        mode: 'ssh',
        ssh_identity_key_file: key,
        known_hosts_file: join(dir, 'known_hosts'),
        // 100 hosts go through 25 connection slots (the rest wait in the runner's queue): 100
        // handshakes at once on a 2-core CI machine can take longer than the connect timeout.
        max_concurrent_hosts: 25,
        connect_timeout: 5,
        kill_grace_period: 1,
      },
      dynflow: { output_limit_bytes: 65536 },
    });
  });

  after(async () => {
    for (const m of markers) for (const pid of await pidsMatching(m)) process.kill(pid, 'SIGKILL');
    await bench?.close();
    for (const d of daemons) await stopDaemon(d);
    await base?.stop();
    await removeDir(dir);
  });

  test('a batch of 100 hosts: every host’s output and exit status reach Foreman; bulk status and count as Foreman reads them', async () => {
    assert.ok(targets.length >= 100);
    const hosts = targets.slice(0, 100).map((t, i) =>
      host(input(t, { script: `#!/bin/sh\necho "host ${t.hostname} says hi"\necho "warning on ${t.hostname}" >&2\nexit ${i % 4}\n` })),
    );
    const parentId = await launch(hosts);
    const callbacks = await bench.waitCallbacks(
      hosts.map((h) => h.foremanTaskId),
      90_000,
    );
    hosts.forEach((h, i) => {
      const cb = callbacks.get(h.foremanTaskId);
      const name = String(h.input.hostname);
      assert.equal(cb?.data.exit_status, i % 4, `${name}: ${text(cb)}`);
      assert.match(text(cb), new RegExp(`host ${name.replace(/\./g, '\\.')} says hi`));
      assert.match(text(cb), new RegExp(`warning on ${name.replace(/\./g, '\\.')}`));
      assert.match(String(cb?.data.runner_id), /^[0-9a-f-]{36}$/);
      assert.equal(typeof cb?.data.exit_status_timestamp, 'number');
    });
    const states = JSON.parse((await bench.call('POST', '/dynflow/tasks/status', { task_ids: [...hosts.map((h) => h.id), parentId, randomUUID()] })).body) as Record<
      string,
      { state: string; result: string }
    >;
    hosts.forEach((h, i) => assert.deepEqual(states[h.id], { state: 'stopped', result: i % 4 === 0 ? 'success' : 'error' }));
    assert.equal(Object.keys(states).length >= 100, true);
    await waitFor('the batch parent to stop', async () => {
      const s = JSON.parse((await bench.call('POST', '/dynflow/tasks/status', { task_ids: [parentId] })).body) as Record<string, { state: string }>;
      return s[parentId]?.state === 'stopped';
    });
    assert.deepEqual(JSON.parse((await bench.call('GET', '/dynflow/tasks/count?state=running')).body), { count: 0, state: 'running' });
    // Live status of one host: the runner action's output as Foreman reads it, no secrets.
    const status = JSON.parse((await bench.call('GET', `/dynflow/tasks/${hosts[0]?.id}/status`)).body) as { state: string; actions: Array<{ input: Record<string, unknown>; output: Record<string, unknown> }> };
    assert.equal(status.state, 'stopped');
    const runner = status.actions.find((a) => a.input.task_id === hosts[0]?.foremanTaskId);
    assert.equal(runner?.output.exit_status, 0);
    assert.equal(JSON.stringify(status).includes('"secrets"'), false);
  });

  test('cancel stops the remote script and its children', async () => {
    const [a, b] = [marker(), marker()];
    const h = host(input(targets[0] as Target, { script: `#!/bin/sh\necho started\n${a} &\n${b}\nwait\n` }));
    await launch([h]);
    await waitFor('the remote processes to start', async () => (await pidsMatching(a)).length > 0 && (await pidsMatching(b)).length > 0, 20_000);
    // While it runs, Foreman's load probe counts the host task and its batch parent.
    const running = JSON.parse((await bench.call('GET', '/dynflow/tasks/count?state=running')).body) as { count: number; state: string };
    assert.equal(running.state, 'running');
    assert.ok(running.count >= 2, JSON.stringify(running));
    const cancelled = await bench.call('POST', `/dynflow/tasks/${h.id}/cancel`, '');
    assert.equal(cancelled.status, 200, cancelled.body);
    assert.deepEqual(JSON.parse(cancelled.body), { task_id: h.id, canceled_steps_count: 1 });
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.notEqual(cb?.data.exit_status, 0, text(cb));
    assert.match(text(cb), /started/);
    await waitFor('the remote processes to be gone', async () => (await pidsMatching(a)).length === 0 && (await pidsMatching(b)).length === 0, 20_000);
  });

  test('execution_timeout_interval stops the remote script and says so', async () => {
    const a = marker();
    const h = host(input(targets[1] as Target, { script: `#!/bin/sh\n${a}\n`, execution_timeout_interval: 2 }));
    await launch([h]);
    await waitFor('the remote process to start', async () => (await pidsMatching(a)).length > 0, 20_000);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.notEqual(cb?.data.exit_status, 0);
    assert.match(text(cb), /Timeout for execution passed, trying to stop the job/);
    await waitFor('the remote process to be gone', async () => (await pidsMatching(a)).length === 0, 20_000);
  });

  test('bad input: unknown operation 404, malformed batch 400 naming the field, a bad host fails alone', async () => {
    const unknown = await bench.call('POST', '/dynflow/tasks/launch', { operation: 'teleport', input: {}, options: {} });
    assert.equal(unknown.status, 404);
    assert.deepEqual(JSON.parse(unknown.body), { error: "Unknown operation 'teleport' requested." });
    const notObject = await bench.call('POST', '/dynflow/tasks/launch', { operation: 'ssh', input: 'hosts', options: {} });
    assert.equal(notObject.status, 400);
    assert.match(notObject.body, /input/);
    const badKey = await bench.call('POST', '/dynflow/tasks/launch', { operation: 'ssh', input: { 'not-a-uuid': { action_class: 'x', action_input: {} } } });
    assert.equal(badKey.status, 400);
    assert.match(badKey.body, /input\.not-a-uuid/);
    const wrongClass = host(input(targets[2] as Target, { script: 'true' }));
    const classRes = await bench.call('POST', '/dynflow/tasks/launch', {
      operation: 'ssh',
      input: { [wrongClass.id]: { action_class: 'Actions::Evil', action_input: wrongClass.input } },
    });
    assert.equal(classRes.status, 400, classRes.body);
    assert.match(classRes.body, /action_class/);
    const bad = host(input(targets[2] as Target, { script: 'true', effective_user_method: 'pkexec' }));
    const good = host(input(targets[3] as Target, { script: 'echo fine' }));
    await launch([bad, good]);
    const cbs = await bench.waitCallbacks([bad.foremanTaskId, good.foremanTaskId]);
    assert.equal(cbs.get(bad.foremanTaskId)?.data.exit_status, 'EXCEPTION');
    assert.match(text(cbs.get(bad.foremanTaskId)), /effective_user_method 'pkexec' not supported/);
    assert.equal(cbs.get(good.foremanTaskId)?.data.exit_status, 0);
  });

  test('hostile script text and values arrive as data', async () => {
    const canary = join(dir, `pwned-${randomUUID()}`);
    const hostile = `'; touch ${canary}; echo '\n$(touch ${canary}) \`touch ${canary}\` "\\$HOME" ünïcödé \u0007 end`;
    const weirdDir = join(targets[4]?.sshd.workDir ?? '/tmp', `a b$(touch ${canary})'x`);
    const h = host(input(targets[4] as Target, { script: `#!/bin/sh\ncat <<'REX_EOF'\n${hostile}\nREX_EOF\n`, remote_working_dir: weirdDir }));
    await launch([h]);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.equal(cb?.data.exit_status, 0, text(cb));
    assert.ok(text(cb).includes(hostile.replace(/\n/g, '\n')), text(cb));
    await assert.rejects(stat(canary), { code: 'ENOENT' });
  });

  test('a host that accepts TCP and never answers fails within its deadline while the proxy keeps answering', async (t) => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s); // accepted, never written to
      s.on('close', () => sockets.delete(s));
    });
    const port = await freeTcpPort('127.0.0.1');
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    t.after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });
    const hung = host({ ...input(targets[5] as Target, { script: 'true' }), hostname: '127.0.0.1', ssh_port: port });
    const fine = host(input(targets[6] as Target, { script: 'echo still working' }));
    await launch([hung, fine]);
    await waitFor('the silent host to be connected', () => sockets.size > 0, 10_000);
    // While the silent host holds its connection, other requests and hosts are served.
    assert.equal((await bench.call('GET', '/dynflow/tasks/count')).status, 200);
    const cbs = await bench.waitCallbacks([hung.foremanTaskId, fine.foremanTaskId]);
    assert.equal(cbs.get(fine.foremanTaskId)?.data.exit_status, 0);
    const failed = cbs.get(hung.foremanTaskId);
    assert.equal(failed?.data.exit_status, 'EXCEPTION');
    assert.match(text(failed), /time|connect/i);
  });

  test('oversized output is capped, with a note saying how much was dropped', async () => {
    const h = host(input(targets[7] as Target, { script: '#!/bin/sh\nhead -c 400000 /dev/zero | tr "\\0" x\necho\n' }));
    await launch([h]);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.equal(cb?.data.exit_status, 0);
    const entries = cb?.data.result ?? [];
    const stored = entries.filter((e) => e.output_type !== 'debug').reduce((n, e) => n + Buffer.byteLength(e.output), 0);
    assert.ok(stored <= 65536, `${stored} bytes kept`);
    assert.match(entries.map((e) => e.output).join('\n'), /dropped|truncated|limit/i);
  });

  test('the public keys are open to anyone over HTTPS; /v2/features shows Script with cockpit and the mode', async () => {
    const anonymous = { ca: bench.pki.caCert };
    const key = await fetchUrl(`${bench.origin()}/ssh/pubkey`, { tls: anonymous });
    assert.equal(key.status, 200);
    assert.equal(key.body, pub);
    const ca = await fetchUrl(`${bench.origin()}/ssh/ca_pubkey`, { tls: anonymous });
    assert.deepEqual([ca.status, ca.body], [200, '']);
    const features = JSON.parse((await bench.call('GET', '/v2/features')).body) as Record<string, { state: string; capabilities: string[]; settings: Record<string, unknown> }>;
    assert.deepEqual(features.script, { http_enabled: false, https_enabled: true, settings: { mode: 'ssh' }, state: 'running', capabilities: ['cockpit'] });
    assert.ok(features.dynflow?.capabilities.includes('ssh'));
  });

  test('Cockpit session: the connection becomes a raw pipe to the command on the host', async () => {
    const t0 = targets[30] as Target;
    const body = JSON.stringify({ hostname: t0.hostname, ssh_port: t0.port, ssh_user: t0.sshd.users.nopw.name, command: 'cat', proxy: 'ignored' });
    const request = `POST /ssh/session HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: upgrade\r\nUpgrade: raw\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const port = portOf(bench.proxy, 'https');
    const session = await rawExchange(port, bench.foremanTls, request);
    try {
      const head = await session.waitFor(/\r\n\r\n/);
      assert.equal(head, 'Status: 101\r\nConnection: upgrade\r\nUpgrade: raw\r\n\r\n');
      // Bytes that look like HTTP are data now, not a new request.
      session.socket.write('GET / HTTP/1.1\r\n\r\nhello bridge\n');
      const echoed = await session.waitFor(/hello bridge\n$/);
      assert.equal(echoed.slice(head.length), 'GET / HTTP/1.1\r\n\r\nhello bridge\n');
    } finally {
      session.socket.destroy();
    }
    // Errors before the upgrade: the same header block, with the reason and its length.
    const refused = JSON.stringify({ hostname: t0.hostname, ssh_port: t0.port, ssh_user: 'nosuchuser', command: 'cat' });
    const bad = await rawExchange(port, bench.foremanTls, request.replace(/Content-Length: \d+\r\n\r\n[^]*$/, `Content-Length: ${refused.length}\r\n\r\n${refused}`));
    const answer = await bad.waitFor(/\r\n\r\n[^]+/);
    bad.socket.destroy();
    const [headers, message] = answer.split('\r\n\r\n') as [string, string];
    assert.match(headers, /^Status: 500\r\nConnection: close\r\nContent-Length: \d+$/);
    assert.equal(Number(/Content-Length: (\d+)/.exec(headers)?.[1]), Buffer.byteLength(message));
    assert.match(message, /authentication/i);
    // A host nobody listens on: a socket error, 400.
    const closedPort = await freeTcpPort('127.0.0.1');
    const nowhere = JSON.stringify({ hostname: '127.0.0.1', ssh_port: closedPort, ssh_user: 'root', command: 'cat' });
    const refusedConn = await rawExchange(port, bench.foremanTls, request.replace(/Content-Length: \d+\r\n\r\n[^]*$/, `Content-Length: ${nowhere.length}\r\n\r\n${nowhere}`));
    const refusedAnswer = await refusedConn.waitFor(/\r\n\r\n[^]+/);
    refusedConn.socket.destroy();
    assert.match(refusedAnswer, /^Status: 400\r\nConnection: close\r\nContent-Length: \d+\r\n\r\n.*ECONNREFUSED/);
  });

  test('a restart of the proxy mid-job (SIGKILL): nothing is lost, Foreman gets a final state for every host', async () => {
    const quick = targets.slice(10, 15).map((t) => host(input(t, { script: `echo quick ${t.hostname}` })));
    await launch(quick);
    await bench.waitCallbacks(quick.map((h) => h.foremanTaskId));
    const slowMarkers = targets.slice(15, 19).map(() => marker());
    const slow = targets.slice(15, 19).map((t, i) => host(input(t, { script: `#!/bin/sh\necho begun\n${slowMarkers[i]}\n` })));
    await launch(slow);
    await waitFor('every slow script to run', async () => (await Promise.all(slowMarkers.map(pidsMatching))).every((p) => p.length > 0), 30_000);
    await bench.kill('SIGKILL');
    await bench.restart();
    const cbs = await bench.waitCallbacks(slow.map((h) => h.foremanTaskId));
    for (const h of slow) {
      const cb = cbs.get(h.foremanTaskId);
      assert.equal(cb?.data.exit_status, 'EXCEPTION');
      assert.match(text(cb), /begun/);
      assert.match(text(cb), /stopped while this script ran; it may have run partly/);
    }
    // The dead proxy's connections are gone, and with them the scripts (their terminal hung up).
    await waitFor('the interrupted scripts to end', async () => (await Promise.all(slowMarkers.map(pidsMatching))).every((p) => p.length === 0), 20_000);
    // What was stored before the kill is all there: the quick hosts' status and output.
    const states = JSON.parse((await bench.call('POST', '/dynflow/tasks/status', { task_ids: [...quick, ...slow].map((h) => h.id) })).body) as Record<string, { state: string; result: string }>;
    for (const h of quick) assert.deepEqual(states[h.id], { state: 'stopped', result: 'success' });
    for (const h of slow) assert.equal(states[h.id]?.state, 'stopped');
    for (const h of quick) {
      const status = await bench.call('GET', `/dynflow/tasks/${h.id}/status`);
      assert.ok(status.body.includes(`quick ${String(h.input.hostname)}`));
    }
  });
});

/** Open a TLS connection, send `request`, read until `until` matches what came back. */
export function rawExchange(
  port: number,
  tls: { ca: string; cert: string; key: string },
  request: string,
): Promise<{ socket: TLSSocket; received: () => string; waitFor: (re: RegExp) => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, () => {
      socket.write(request);
      resolve({
        socket,
        received: () => data,
        waitFor: (re) =>
          new Promise((res, rej) => {
            const check = (): void => {
              if (re.test(data)) {
                socket.off('data', check);
                res(data);
              }
            };
            socket.on('data', check);
            socket.once('close', () => (re.test(data) ? res(data) : rej(new Error(`closed before ${re}: ${JSON.stringify(data)}`))));
            check();
          }),
      });
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.once('error', reject);
  });
}
