// Two replicas of the proxy (real processes, src/main.ts) sharing one real PostgreSQL database
// (tasks in the PostgreSQL store, work in pg-boss), behind a real HAProxy (TLS pass-through, so
// client certificates reach the replicas), with a stand-in Foreman receiving the callbacks over
// HTTPS. Pull mode: hosts (driven by the test with their own client certificates) list, fetch and
// report their jobs through HAProxy, so any replica serves them.
//
// Foreman launches through replica A and reads status through replica B; then replica A is killed
// (SIGKILL, by its PID) while jobs are out: HAProxy takes it out, and every host still reaches a
// final state through B, and Foreman gets a callback for each.
//
// Push mode (real sshd on loopback): the replica whose runners hold the SSH sessions is killed;
// its run jobs' pg-boss heartbeats stop, the other replica takes the jobs over and finishes those
// tasks with EXCEPTION and a line naming the dead replica (a push script is never re-run).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import pg from 'pg';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { fetchUrl, type SimpleResponse } from '../lib/https-client.ts';
import { execFileP, removeDir, requireCommand, tempDir, waitFor } from '../lib/procs.ts';
import { startSshd, type Sshd } from '../lib/sshd.ts';
import { portOf, startProxyProcess, type ProxyProcess } from '../lib/proxy-process.ts';
import { startStandInForeman, type StandInForeman } from '../lib/standin-foreman.ts';
import { startPostgres, type PostgresCluster } from '../lib/postgres.ts';
import { startHaproxy, type Haproxy } from '../lib/haproxy.ts';
import { host, launchBody, pidsMatching, type BatchHost, type CallbackBody } from '../script/harness.ts';

const CALLBACK_PATH = '/foreman_tasks/api/tasks/callback';
const HOSTS = 12;

let dir: string;
let pki: Pki;
let cluster: PostgresCluster | undefined;
let foreman: StandInForeman | undefined;
let keyFile: string;
let proxyClient: { cert: string; key: string };
let foremanTls: { ca: string; cert: string; key: string };
const replicas: ProxyProcess[] = [];
const haproxies: Haproxy[] = [];
const sshds: Sshd[] = [];
/** Remote `sleep` command lines started by the push test, killed at the end whatever happened. */
const markers: string[] = [];

// A dead replica's queue jobs move to the live one after the heartbeat (pg-boss minimum 10 s) plus
// a supervisor pass; the proxies inherit these from the test's environment.
process.env.DYNFLOW_QUEUE_HEARTBEAT_SECONDS = '10';
process.env.DYNFLOW_QUEUE_SUPERVISE_SECONDS = '1';

const t0 = Date.now();
const mark = (what: string): void => {
  if (process.env.REPLICAS_TEST_TIMING) process.stderr.write(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what}\n`);
};

before(async () => {
  mark('before');
  dir = await tempDir('replicas');
  pki = await makePki(dir);
  cluster = await startPostgres();
  proxyClient = await pki.client('proxy.example.com');
  foremanTls = { ca: pki.caCert, ...(await pki.client('foreman.example.com')) };
  foreman = await startStandInForeman(
    (req) =>
      req.path === CALLBACK_PATH
        ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"message":"processing"}' }
        : { status: 404, body: 'not found' },
    { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert },
  );
  // Replicas share the secrets key (a task's sealed secrets are opened by whichever replica runs it).
  keyFile = join(dir, 'secrets.key');
  await writeFile(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
});

after(async () => {
  for (const m of markers) for (const pid of await pidsMatching(m)) process.kill(pid, 'SIGKILL');
  // stop() waits for an exit, so a replica the test killed is skipped
  for (const p of replicas) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop().catch(() => undefined);
  for (const h of haproxies) await h.stop();
  for (const s of sshds) await s.stop();
  await foreman?.close();
  await cluster?.stop();
  if (dir && !process.env.KEEP_TEST_DIR) await removeDir(dir);
});

interface Pair {
  readonly a: ProxyProcess;
  readonly b: ProxyProcess;
  readonly haproxy: Haproxy;
  readonly databaseUrl: string;
  /** Directory of this pair's settings and logs. */
  readonly dir: string;
}

/** Two replicas on a fresh database with these remote_execution_ssh settings, behind HAProxy. */
async function startPair(tag: string, script: Record<string, unknown>): Promise<Pair> {
  const pairDir = join(dir, tag);
  await mkdir(pairDir);
  const databaseUrl = await (cluster as PostgresCluster).createDatabase();
  const started: ProxyProcess[] = [];
  for (const name of ['a', 'b']) {
    const settings = join(pairDir, `settings-${name}`);
    await writeSettingsDir(
      settings,
      {
        bind_host: ['127.0.0.1'],
        https_port: 0,
        ssl_certificate: pki.serverCert,
        ssl_private_key: pki.serverKey,
        ssl_ca_file: pki.caCert,
        foreman_url: (foreman as StandInForeman).origin,
        foreman_ssl_ca: pki.caCert,
        foreman_ssl_cert: proxyClient.cert,
        foreman_ssl_key: proxyClient.key,
        trusted_hosts: ['foreman.example.com'],
        log_file: join(pairDir, `proxy-${name}.log`),
        log_level: 'DEBUG',
      },
      {
        dynflow: { ':enabled': 'https', ':database_url': databaseUrl, ':secrets_key_file': keyFile },
        remote_execution_ssh: { ':enabled': 'https', ...Object.fromEntries(Object.entries(script).map(([k, v]) => [`:${k}`, v])) },
      },
    );
    const p = await startProxyProcess(['--settings', settings], 60_000);
    replicas.push(p);
    started.push(p);
  }
  const [a, b] = started as [ProxyProcess, ProxyProcess];
  const haproxy = await startHaproxy(pairDir, [
    { name: 'replica-a', port: portOf(a, 'https') },
    { name: 'replica-b', port: portOf(b, 'https') },
  ]);
  haproxies.push(haproxy);
  mark(`${tag}: replicas up`);
  return { a, b, haproxy, databaseUrl, dir: pairDir };
}

function asForeman(p: ProxyProcess, method: string, path: string, body?: unknown): Promise<SimpleResponse> {
  return fetchUrl(`https://127.0.0.1:${portOf(p, 'https')}${path}`, {
    method,
    tls: foremanTls,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: 30_000,
  });
}

async function states(p: ProxyProcess, ids: readonly string[]): Promise<Record<string, { state: string; result: string }>> {
  const res = await asForeman(p, 'POST', '/dynflow/tasks/status', { task_ids: ids });
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body) as Record<string, { state: string; result: string }>;
}

/** SIGKILL by PID (no shutdown at all), then wait until HAProxy has taken the replica out. */
async function killReplica(pair: Pair, p: ProxyProcess, server: string): Promise<void> {
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  process.kill(p.pid, 'SIGKILL');
  await exited;
  await waitFor(`HAProxy to take ${server} out`, async () => (await pair.haproxy.serverStates())[server]?.startsWith('DOWN') ?? false, 15_000);
}

async function logTail(pair: Pair, name: string, lines = 30): Promise<string> {
  try {
    return `--- proxy ${name} ---\n${(await readFile(join(pair.dir, `proxy-${name}.log`), 'utf8')).split('\n').slice(-lines).join('\n')}`;
  } catch {
    return '';
  }
}

function callbacks(): Map<string, CallbackBody[]> {
  const out = new Map<string, CallbackBody[]>();
  for (const r of foreman?.requests ?? []) {
    if (r.path !== CALLBACK_PATH) continue;
    const body = JSON.parse(r.body.toString('utf8')) as CallbackBody;
    out.set(body.callback.task_id, [...(out.get(body.callback.task_id) ?? []), body]);
  }
  return out;
}

async function waitCallbacks(pair: Pair, hosts: readonly BatchHost[], timeoutMs: number): Promise<Map<string, CallbackBody[]>> {
  await waitFor(
    'a callback for every host',
    () => {
      const got = callbacks();
      return hosts.every((h) => got.has(h.foremanTaskId));
    },
    timeoutMs,
    100,
  ).catch(async (err: Error) => {
    const got = callbacks();
    throw new Error(`${err.message}: missing ${hosts.filter((h) => !got.has(h.foremanTaskId)).length} of ${hosts.length}\n${await logTail(pair, 'a')}\n${await logTail(pair, 'b')}`);
  });
  return callbacks();
}

test('pull mode: launch via A, status via B, A killed mid-job: every host finishes through HAProxy (so via B) with a callback each (stand-in Foreman)', async () => {
  const pair = await startPair('pull', { mode: 'pull', cancel_grace_period: 5 });
  const { a, b } = pair;
  const viaHaproxy = `https://127.0.0.1:${pair.haproxy.port}`;

  const fqdns = Array.from({ length: HOSTS }, (_, i) => `node${String(i).padStart(2, '0')}.replica.example.com`);
  const certs = await Promise.all(fqdns.map((f) => pki.client(f)));
  const asHost = (i: number, method: string, path: string, body?: unknown): Promise<SimpleResponse> =>
    fetchUrl(`${viaHaproxy}${path}`, {
      method,
      tls: { ca: pki.caCert, ...certs[i] },
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: 30_000,
    });
  const output = (i: number) => ({ version: '1', updates: [{ timestamp: new Date().toISOString(), type: 'output', stream: 'stdout', content: `hello from ${fqdns[i]}\n` }] });

  const hosts: BatchHost[] = fqdns.map((fqdn, i) =>
    host({ hostname: `192.0.2.${i + 1}`, alternative_names: { fqdn }, script: `#!/bin/sh\necho "hello from ${fqdn}"\nexit ${i % 2}\n`, proxy_url: viaHaproxy }),
  );
  const ids = hosts.map((h) => h.id);

  // Launch through replica A; status through replica B, which sees every task A stored.
  const launched = await asForeman(a, 'POST', '/dynflow/tasks/launch', launchBody(hosts));
  assert.equal(launched.status, 200, launched.body);
  const parentId = (JSON.parse(launched.body) as { parent: { task_id: string } }).parent.task_id;
  mark('pull: launched');
  await waitFor('B to see every host task running', async () => {
    const s = await states(b, ids);
    return hosts.every((h) => s[h.id]?.state === 'running');
  });

  // Every host lists its job through HAProxy (either replica); the first half also fetch the
  // script and report output before replica A dies.
  const uuids: string[] = [];
  for (let i = 0; i < HOSTS; i++) {
    let last: SimpleResponse | undefined;
    await waitFor(`host ${i}'s job to be listed`, async () => {
      last = await asHost(i, 'GET', '/ssh/jobs');
      const list = JSON.parse(last.body) as string[];
      if (list.length !== 1) return false;
      uuids[i] = list[0] as string;
      return true;
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}; last answer ${last?.status} ${last?.body}\n${await logTail(pair, 'a')}\n${await logTail(pair, 'b')}`);
    });
  }
  const half = HOSTS / 2;
  for (let i = 0; i < half; i++) {
    const script = await asHost(i, 'GET', `/ssh/jobs/${uuids[i]}`);
    assert.equal(script.status, 200);
    assert.match(script.body, new RegExp(`hello from ${fqdns[i]}`));
    assert.equal((await asHost(i, 'POST', `/ssh/jobs/${uuids[i]}/update`, output(i))).status, 200);
  }

  await killReplica(pair, a, 'replica-a');
  mark('pull: A is down');

  // The rest of the work goes through HAProxy, which now only has B.
  for (let i = half; i < HOSTS; i++) {
    assert.equal((await asHost(i, 'GET', `/ssh/jobs/${uuids[i]}`)).status, 200);
    assert.equal((await asHost(i, 'POST', `/ssh/jobs/${uuids[i]}/update`, output(i))).status, 200);
  }
  for (let i = 0; i < HOSTS; i++) {
    const exit = { version: '1', updates: [{ timestamp: new Date().toISOString(), type: 'exit', exit_code: i % 2 }] };
    const res = await asHost(i, 'POST', `/ssh/jobs/${uuids[i]}/update`, exit);
    assert.equal(res.status, 200, `host ${i}: ${res.body}`);
  }

  // Every host task reaches its final state (seen through B), and Foreman got a callback for each.
  const got = await waitCallbacks(pair, hosts, 60_000);
  mark('pull: callbacks in');
  hosts.forEach((h, i) => {
    const cb = (got.get(h.foremanTaskId) ?? []).at(-1) as CallbackBody;
    assert.equal(cb.callback.step_id, 3);
    assert.equal(cb.data.exit_status, i % 2, fqdns[i]);
    assert.equal(
      cb.data.result.filter((e) => e.output_type === 'stdout').map((e) => e.output).join(''),
      `hello from ${fqdns[i]}\n`,
      `output of ${fqdns[i]}`,
    );
  });
  const final = await states(b, ids);
  hosts.forEach((h, i) => assert.deepEqual(final[h.id], { state: 'stopped', result: i % 2 === 0 ? 'success' : 'error' }, fqdns[i]));
  await waitFor('the batch parent to stop', async () => (await states(b, [parentId]))[parentId]?.state === 'stopped');
  for (let i = 0; i < HOSTS; i++) assert.deepEqual(JSON.parse((await asHost(i, 'GET', '/ssh/jobs')).body), []);
});

test('push mode: the replica running the scripts is killed; its host tasks are recovered by the other replica after the heartbeat, finished with a clear EXCEPTION, each with a callback (real sshd, stand-in Foreman)', async () => {
  const key = join(dir, 'id_ed25519_foreman_proxy');
  await execFileP(requireCommand('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', 'foreman-proxy', '-f', key]);
  const sshd = await startSshd({ addresses: ['127.0.0.1'] });
  sshds.push(sshd);
  await appendFile(join(sshd.dir, 'authorized_keys', sshd.users.nopw.name), await readFile(`${key}.pub`, 'utf8'));
  const pair = await startPair('push', { mode: 'ssh', ssh_identity_key_file: key, known_hosts_file: join(dir, 'known_hosts'), connect_timeout: 5, kill_grace_period: 1 });
  const { a, b } = pair;

  const sleeps = Array.from({ length: 4 }, () => {
    const m = `sleep ${4000 + randomInt(1000)}.${randomInt(100000, 999999)}`;
    markers.push(m);
    return m;
  });
  const hosts = sleeps.map((m, i) =>
    host({
      hostname: '127.0.0.1',
      ssh_port: sshd.port,
      ssh_user: sshd.users.nopw.name,
      effective_user: sshd.users.nopw.name,
      remote_working_dir: sshd.workDir,
      proxy_url: `https://127.0.0.1:${pair.haproxy.port}`,
      script: `#!/bin/sh\necho "started ${i}"\n${m}\n`,
    }),
  );
  const ids = hosts.map((h) => h.id);
  const launched = await asForeman(a, 'POST', '/dynflow/tasks/launch', launchBody(hosts));
  assert.equal(launched.status, 200, launched.body);
  mark('push: launched');
  // Each script is running on the host, or its task already ended (a run can fail on its own on a
  // loaded machine; it still must have its callback). The kill is only meaningful for running ones.
  let running: BatchHost[] = [];
  await waitFor(
    'every script to run on the host (or its task to end)',
    async () => {
      const pids = await Promise.all(sleeps.map(pidsMatching));
      const done = callbacks();
      running = hosts.filter((_, i) => (pids[i] ?? []).length > 0);
      return hosts.every((h, i) => (pids[i] ?? []).length > 0 || done.has(h.foremanTaskId));
    },
    45_000,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${JSON.stringify(await states(b, ids))}\n${await logTail(pair, 'a')}\n${await logTail(pair, 'b')}`);
  });
  if (running.length === 0) {
    const early = callbacks();
    assert.fail(`no script ran long enough to kill its replica under it:\n${hosts.map((h) => (early.get(h.foremanTaskId) ?? []).at(-1)?.data.result.map((e) => e.output).join('')).join('\n')}`);
  }

  // Which replica runs which task: the owner column of the shared store, and each replica's id
  // from its start-up log line.
  const replicaIdOf = async (name: string): Promise<string> => {
    const m = /tasks in PostgreSQL \(shared by replicas\); replica (\S+)/.exec(await readFile(join(pair.dir, `proxy-${name}.log`), 'utf8'));
    assert.ok(m, `replica ${name}'s id in its log`);
    return m[1] as string;
  };
  const [idA, idB] = [await replicaIdOf('a'), await replicaIdOf('b')];
  const db = new pg.Client({ connectionString: pair.databaseUrl });
  await db.connect();
  let owners: Map<string, string>;
  try {
    const { rows } = await db.query<{ id: string; owner: string }>('SELECT id, owner FROM dynflow_tasks WHERE id = ANY($1::text[])', [ids]);
    owners = new Map(rows.map((r) => [r.id, r.owner]));
  } finally {
    await db.end();
  }
  assert.ok([...owners.values()].every((o) => o === idA || o === idB), JSON.stringify([...owners]));
  // Kill whichever replica runs more of them (A took the jobs it queued itself in practice).
  const onA = running.filter((h) => owners.get(h.id) === idA).length;
  const [victim, survivor, victimId, server] = onA >= running.length - onA ? [a, b, idA, 'replica-a'] : [b, a, idB, 'replica-b'];
  await killReplica(pair, victim, server);
  mark('push: victim is down');

  // Tasks of the dead replica come back on the survivor after their heartbeat lapsed and are
  // finished with EXCEPTION (the script may have run partly; it is not re-run). Tasks the survivor
  // ran itself are stopped by cancelling them, so every host ends.
  const victimTasks = running.filter((h) => owners.get(h.id) === victimId);
  const survivorTasks = running.filter((h) => owners.get(h.id) !== victimId);
  const recovered = await waitCallbacks(pair, victimTasks, 60_000);
  mark('push: recovered');
  for (const h of survivorTasks) assert.equal((await asForeman(survivor, 'POST', `/dynflow/tasks/${h.id}/cancel`, {})).status, 200);
  const got = survivorTasks.length > 0 ? await waitCallbacks(pair, survivorTasks, 30_000) : recovered;
  for (const h of victimTasks) {
    const cb = (got.get(h.foremanTaskId) ?? []).at(-1) as CallbackBody;
    assert.equal(cb.data.exit_status, 'EXCEPTION');
    const text = cb.data.result.map((e) => e.output).join('');
    assert.ok(text.includes(`the proxy (replica ${victimId}) stopped while this script ran; it may have run partly`), text);
  }
  // The survivor says whose tasks it recovered (its log file is written asynchronously).
  const survivorLog = join(pair.dir, `proxy-${survivor === a ? 'a' : 'b'}.log`);
  await waitFor(`the survivor's log to name every recovered task and ${victimId}`, async () => {
    const text = await readFile(survivorLog, 'utf8');
    return victimTasks.every((h) => text.includes(`recovering task ${h.id} (ssh) after it was interrupted on ${victimId}`));
  });
  for (const h of survivorTasks) assert.notEqual(((got.get(h.foremanTaskId) ?? []).at(-1) as CallbackBody).data.exit_status, 0);
  // Every host, including any whose run failed before the kill, ended with a callback.
  await waitCallbacks(pair, hosts, 30_000);
  const final = await states(survivor, ids);
  for (const h of hosts) assert.equal(final[h.id]?.state, 'stopped', h.id);
});
