// Pull modes end to end: the whole proxy over HTTPS with client certificates, the real dynflow
// engine, a real Mosquitto broker with TLS and the installer's ACL, a stand-in for the host agent
// (yggd + foreman_ygg_worker) simulating 100 hosts, and a stand-in Foreman receiving callbacks.
// Mode `pull` (no broker) is driven the way a polling host would: GET /ssh/jobs with its certificate.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readFile } from 'node:fs/promises';
import { fetchUrl } from '../lib/https-client.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { removeDir, tempDir, waitFor } from '../lib/procs.ts';
import { startMosquitto, type Mosquitto } from '../lib/mosquitto.ts';
import { hostCertFactory, startYggStandIn, type YggStandIn } from '../lib/ygg-standin.ts';
import { host, launchBody, startRexBench, type BatchHost, type RexBench } from './harness.ts';

describe('pull-mqtt with real Mosquitto (TLS), a stand-in host agent and a stand-in Foreman', () => {
  let dir: string;
  let pki: Pki;
  let broker: Mosquitto;
  let bench: RexBench;
  let agent: YggStandIn | undefined;
  const hostIds = Array.from({ length: 100 }, (_, i) => `host${String(i).padStart(3, '0')}.pull.example.com`);

  before(async () => {
    dir = await tempDir('rex-pullmqtt');
    pki = await makePki(dir);
    await mkdir(join(dir, 'broker'));
    broker = await startMosquitto({ dir: join(dir, 'broker'), caCert: pki.caCert, serverCert: pki.serverCert, serverKey: pki.serverKey, proxyCn: 'proxy.example.com' });
    bench = await startRexBench({
      dir,
      pki,
      script: { mode: 'pull-mqtt', mqtt_broker: '127.0.0.1', mqtt_port: broker.port, mqtt_ttl: 1, mqtt_resend_interval: 2, cancel_grace_period: 2 },
    });
    const certs = await hostCertFactory(pki.caCert, pki.caKey);
    const issued = await certs.clients(hostIds);
    await mkdir(join(dir, 'agent'));
    const ca = await readFile(pki.caCert, 'utf8');
    agent = await startYggStandIn({
      hosts: hostIds.map((id) => ({ id, ...issued.get(id) })),
      mqtt: { host: '127.0.0.1', port: broker.port, tls: true, ca },
      httpCa: ca,
      workDir: join(dir, 'agent'),
      batch: { maxUpdates: 4, maxAgeMs: 200 },
    });
    await agent.waitAllSubscribed(30_000);
  });

  after(async () => {
    await agent?.close();
    await bench?.close();
    await broker?.stop();
    await removeDir(dir);
  });

  test('100 hosts: launch → MQTT notification → fetch → updates → a callback per host with its output and exit status', async () => {
    const hosts: BatchHost[] = hostIds.map((id, i) =>
      host({
        hostname: `192.0.2.${i + 1}`,
        alternative_names: { fqdn: id },
        script: `#!/bin/sh\necho "hello from ${id}"\necho "to stderr" >&2\nexit ${i % 3}\n`,
        effective_user: 'root',
        proxy_url: bench.origin(),
        time_to_pickup: 600,
      }),
    );
    const launched = await bench.call('POST', '/dynflow/tasks/launch', launchBody(hosts));
    assert.equal(launched.status, 200, launched.body);
    const parentId = (JSON.parse(launched.body) as { parent: { result: string; task_id: string } }).parent.task_id;
    const callbacks = await bench.waitCallbacks(
      hosts.map((h) => h.foremanTaskId),
      60_000,
    );
    hosts.forEach((h, i) => {
      const cb = callbacks.get(h.foremanTaskId);
      assert.ok(cb, `callback of ${hostIds[i]}`);
      assert.equal(cb.callback.step_id, 3);
      assert.equal(cb.data.exit_status, i % 3, hostIds[i]);
      const stdout = cb.data.result.filter((e) => e.output_type === 'stdout').map((e) => e.output).join('');
      const stderr = cb.data.result.filter((e) => e.output_type === 'stderr').map((e) => e.output).join('');
      assert.equal(stdout, `hello from ${hostIds[i]}\n`);
      assert.equal(stderr, 'to stderr\n');
    });
    // Every host got exactly the job meant for it (the broker's ACL and the proxy's CN check).
    assert.equal(agent?.finished.length, 100);
    for (const run of agent?.finished ?? []) assert.ok(run.updates.length >= 1);
    // Bulk state as Foreman polls it: every child and the parent stopped.
    const states = await bench.call('POST', '/dynflow/tasks/status', { task_ids: [...hosts.map((h) => h.id), parentId] });
    const byId = JSON.parse(states.body) as Record<string, { state: string; result: string }>;
    hosts.forEach((h, i) => assert.deepEqual(byId[h.id], { state: 'stopped', result: i % 3 === 0 ? 'success' : 'error' }));
    await waitFor('the batch parent to stop', async () => {
      const s = JSON.parse((await bench.call('POST', '/dynflow/tasks/status', { task_ids: [parentId] })).body) as Record<string, { state: string }>;
      return s[parentId]?.state === 'stopped';
    });
    const count = JSON.parse((await bench.call('GET', '/dynflow/tasks/count?state=running')).body) as { count: number; state: string };
    assert.deepEqual(count, { count: 0, state: 'running' });
  });

  test('cancel of a job the host is running: the MQTT cancel reaches the agent, which stops the script', async () => {
    const id = hostIds[7] as string;
    const h = host({
      hostname: id,
      alternative_names: { fqdn: id },
      script: '#!/bin/sh\necho started\nsleep 300\n',
      effective_user: 'root',
      proxy_url: bench.origin(),
    });
    assert.equal((await bench.call('POST', '/dynflow/tasks/launch', launchBody([h]))).status, 200);
    await waitFor('the agent to run the script', () => (agent?.runningJobs().length ?? 0) === 1, 20_000);
    const cancelled = await bench.call('POST', `/dynflow/tasks/${h.id}/cancel`, '');
    assert.equal(cancelled.status, 200, cancelled.body);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.ok(cb);
    // The agent's SIGTERM ends the script; the exit update (or the grace timeout) ends the task.
    assert.notEqual(cb.data.exit_status, 0);
    assert.ok(cb.data.result.some((e) => e.output.includes('The job was cancelled by the user, notifying the host over MQTT')), JSON.stringify(cb.data.result));
    assert.ok(agent?.messages.some((m) => m.hostId === id && m.message?.metadata?.event === 'cancel'));
    await waitFor('the script to stop', () => (agent?.runningJobs().length ?? 0) === 0, 20_000);
  });

  test('a host offline at launch gets its job after a proxy restart (SIGKILL): the stored job is notified again', async () => {
    const id = 'late.pull.example.com';
    const h = host({ hostname: id, script: '#!/bin/sh\necho made it\n', effective_user: 'root', proxy_url: bench.origin() });
    assert.equal((await bench.call('POST', '/dynflow/tasks/launch', launchBody([h]))).status, 200);
    await bench.kill('SIGKILL');
    await bench.restart();
    const issued = await (await hostCertFactory(pki.caCert, pki.caKey)).client(id);
    const ca = await readFile(pki.caCert, 'utf8');
    const late = await startYggStandIn({
      hosts: [{ id, ...issued }],
      mqtt: { host: '127.0.0.1', port: broker.port, tls: true, ca },
      httpCa: ca,
      workDir: join(dir, 'agent'),
      batch: { maxUpdates: 4, maxAgeMs: 200 },
    });
    try {
      await late.waitAllSubscribed(20_000);
      const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
      assert.equal(cb?.data.exit_status, 0);
      assert.equal(cb?.data.result.map((e) => e.output).join(''), 'made it\n');
      assert.equal(late.finished.length, 1);
    } finally {
      await late.close();
    }
  });
});

describe('pull without a broker: hosts poll GET /ssh/jobs with their certificate, callbacks to a stand-in Foreman', () => {
  let bench: RexBench;

  before(async () => {
    bench = await startRexBench({ script: { mode: 'pull', cancel_grace_period: 1 } });
  });

  after(async () => {
    await bench?.close();
  });

  test('a host lists, fetches and reports its job; bad updates are refused with 400 and the job keeps running', async () => {
    const me = await bench.pki.client('web1.pull.example.com');
    const other = await bench.pki.client('web2.pull.example.com');
    const asHost = (tls: { cert: string; key: string } | undefined, method: string, path: string, body?: string) =>
      fetchUrl(`${bench.origin()}${path}`, { method, tls: { ca: bench.pki.caCert, ...tls }, body, headers: { 'content-type': 'application/json' } });
    const h = host({
      hostname: '192.0.2.10',
      alternative_names: { fqdn: 'web1.pull.example.com' },
      script: 'echo one\r\necho two\r\n',
      effective_user: 'deploy',
      proxy_url: bench.origin(),
    });
    assert.equal((await bench.call('POST', '/dynflow/tasks/launch', launchBody([h]))).status, 200);
    let uuids: string[] = [];
    await waitFor('the job to be listed', async () => {
      uuids = JSON.parse((await asHost(me, 'GET', '/ssh/jobs')).body) as string[];
      return uuids.length === 1;
    });
    const uuid = uuids[0] as string;
    // Someone else's certificate: the job does not exist for it. No certificate: 403.
    assert.deepEqual(JSON.parse((await asHost(other, 'GET', '/ssh/jobs')).body), []);
    for (const [method, path] of [
      ['GET', `/ssh/jobs/${uuid}`],
      ['POST', `/ssh/jobs/${uuid}/update`],
      ['GET', `/ssh/jobs/${uuid}/cancel`],
    ] as const) {
      const res = await asHost(other, method, path, method === 'POST' ? '{"output":"x"}' : undefined);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body, '');
      const anonymous = await asHost(undefined, method, path);
      assert.equal(anonymous.status, 403);
      assert.equal(anonymous.body, 'could not read client cert from environment');
    }
    // Foreman's own (trusted) certificate does not own the job either.
    assert.equal((await bench.call('GET', `/ssh/jobs/${uuid}`)).status, 404);

    const fetched = await asHost(me, 'GET', `/ssh/jobs/${uuid}`);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body, 'echo one\necho two\n');
    assert.equal(fetched.headers['x-foreman-effective-user'], 'deploy');
    const status = async () => JSON.parse((await bench.call('GET', `/dynflow/tasks/${h.id}/status`)).body) as { state: string; actions: Array<{ output: Record<string, unknown> }> };
    assert.ok((await status()).actions.some((a) => a.output.state === 'delivered'));

    const bad = await asHost(me, 'POST', `/ssh/jobs/${uuid}/update`, JSON.stringify({ version: '1', updates: [{ type: 'output', stream: 'stdout', content: 'x' }, { type: 'bogus' }] }));
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { error: 'updates[1].type: must be output or exit, got "bogus"' });
    assert.equal((await asHost(me, 'POST', `/ssh/jobs/${uuid}/update`, '{not json')).status, 400);
    assert.equal((await status()).state, 'running');
    assert.deepEqual(JSON.parse((await asHost(me, 'GET', '/ssh/jobs')).body), [uuid]);

    const v1 = { version: '1', updates: [{ timestamp: new Date().toISOString(), type: 'output', stream: 'stdout', content: 'one\n' }] };
    assert.equal((await asHost(me, 'POST', `/ssh/jobs/${uuid}/update`, JSON.stringify(v1))).status, 200);
    assert.equal((await asHost(me, 'POST', `/ssh/jobs/${uuid}/update`, JSON.stringify({ output: ['two\n'], type: 'stdout', exit_code: 0 }))).status, 200);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.ok(cb);
    assert.equal(cb.data.exit_status, 0);
    assert.deepEqual(
      cb.data.result.map((e) => e.output),
      ['one\n', 'two\n'],
    );
    assert.equal(cb.data.state, 'running');
    // The job is gone once its task stopped.
    assert.deepEqual(JSON.parse((await asHost(me, 'GET', '/ssh/jobs')).body), []);
    assert.equal((await asHost(me, 'GET', `/ssh/jobs/${uuid}`)).status, 404);
  });

  test('time_to_pickup: a job nobody fetches fails with the reference message', async () => {
    const h = host({ hostname: 'web3.pull.example.com', script: 'true', proxy_url: bench.origin(), time_to_pickup: 1 });
    assert.equal((await bench.call('POST', '/dynflow/tasks/launch', launchBody([h]))).status, 200);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.equal(cb?.data.exit_status, 'EXCEPTION');
    assert.ok(cb?.data.result.some((e) => e.output === 'The job was not picked up in time'), JSON.stringify(cb?.data.result));
  });

  test('cancel of a fetched job without MQTT: it cannot be stopped, and the task ends after cancel_grace_period', async () => {
    const me = await bench.pki.client('web4.pull.example.com');
    const h = host({ hostname: 'web4.pull.example.com', script: 'sleep 300', proxy_url: bench.origin() });
    assert.equal((await bench.call('POST', '/dynflow/tasks/launch', launchBody([h]))).status, 200);
    let uuid = '';
    await waitFor('the job to be listed', async () => {
      uuid = (JSON.parse((await fetchUrl(`${bench.origin()}/ssh/jobs`, { tls: { ca: bench.pki.caCert, ...me } })).body) as string[])[0] ?? '';
      return uuid !== '';
    });
    assert.equal((await fetchUrl(`${bench.origin()}/ssh/jobs/${uuid}`, { tls: { ca: bench.pki.caCert, ...me } })).status, 200);
    assert.equal((await bench.call('POST', `/dynflow/tasks/${h.id}/cancel`, '')).status, 200);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.equal(cb?.data.exit_status, 'EXCEPTION');
    const text = cb?.data.result.map((e) => e.output) ?? [];
    assert.ok(text.includes('The job was cancelled by the user, however the job was triggered without MQTT and cannot be stopped'), JSON.stringify(text));
    assert.ok(text.some((t) => t.includes('did not report the end of the cancelled job within 1 seconds')), JSON.stringify(text));
  });

  test('a restart of the proxy (SIGKILL) loses no job: fetched, unfetched and expiring jobs all reach a final state', async () => {
    const names = ['r1.pull.example.com', 'r2.pull.example.com', 'r3.pull.example.com'];
    const certs = await Promise.all(names.map((n) => bench.pki.client(n)));
    const hostGet = (i: number, path: string) => fetchUrl(`${bench.origin()}${path}`, { tls: { ca: bench.pki.caCert, ...certs[i] } });
    const hostPost = (i: number, path: string, body: unknown) =>
      fetchUrl(`${bench.origin()}${path}`, { method: 'POST', tls: { ca: bench.pki.caCert, ...certs[i] }, body: JSON.stringify(body) });
    const hosts = names.map((n, i) => host({ hostname: n, script: `echo ${n}`, proxy_url: bench.origin(), ...(i === 2 ? { time_to_pickup: 4 } : {}) }));
    assert.equal((await bench.call('POST', '/dynflow/tasks/launch', launchBody(hosts))).status, 200);
    const jobOf = async (i: number): Promise<string> => {
      let uuid = '';
      await waitFor(`the job of ${names[i]}`, async () => {
        uuid = (JSON.parse((await hostGet(i, '/ssh/jobs')).body) as string[])[0] ?? '';
        return uuid !== '';
      });
      return uuid;
    };
    const first = await jobOf(0);
    assert.equal((await hostGet(0, `/ssh/jobs/${first}`)).status, 200);
    await bench.kill('SIGKILL');
    await bench.restart();
    // The fetched job is still there for its host, which reports its exit to the new process.
    assert.deepEqual(JSON.parse((await hostGet(0, '/ssh/jobs')).body), [first]);
    assert.equal((await hostPost(0, `/ssh/jobs/${first}/update`, { version: '1', updates: [{ type: 'output', stream: 'stdout', content: 'r1\n' }, { type: 'exit', exit_code: 0 }] })).status, 200);
    // A job not fetched before the restart is fetched after it.
    const second = await jobOf(1);
    assert.equal((await hostGet(1, `/ssh/jobs/${second}`)).body, `echo ${names[1]}`);
    assert.equal((await hostPost(1, `/ssh/jobs/${second}/update`, { output: 'r2\n', exit_code: 2 })).status, 200);
    // The third host never comes: its time_to_pickup timer survived the restart.
    const cbs = await bench.waitCallbacks(hosts.map((h) => h.foremanTaskId));
    assert.equal(cbs.get(hosts[0]?.foremanTaskId ?? '')?.data.exit_status, 0);
    assert.equal(cbs.get(hosts[1]?.foremanTaskId ?? '')?.data.exit_status, 2);
    const third = cbs.get(hosts[2]?.foremanTaskId ?? '');
    assert.equal(third?.data.exit_status, 'EXCEPTION');
    assert.ok(third?.data.result.some((e) => e.output === 'The job was not picked up in time'));
  });
});
