// The dynflow module in the real proxy (settings files, listeners, TLS) with a stand-in Foreman
// over HTTPS that requires a client certificate: the completion callback (spec §2.5) is retried
// until the stand-in accepts it, carries the client certificate, headers and body Foreman reads,
// and is never sent to a server the proxy cannot verify. Also update/done over HTTPS with a client
// certificate. A fake operation is registered on the running engine (the real `ssh` operation
// is tested by the script module's tests).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { removeDir, tempDir } from '../lib/procs.ts';
import { header, startStandInForeman, type StandInForeman } from '../lib/standin-foreman.ts';
import { fetchUrl } from '../lib/https-client.ts';
import type { Engine } from '../../src/modules/dynflow/engine.ts';
import { FAKE_ACTION, FakeOperation, until } from '../../src/modules/dynflow/test-support.ts';

const CALLBACK_PATH = '/foreman_tasks/api/tasks/callback';

function engineOf(proxy: TestProxy): Engine {
  const engine = proxy.proxy.records.get('dynflow')?.instance?.exports as Engine | undefined;
  assert.ok(engine, `dynflow is not running: ${JSON.stringify(proxy.proxy.failedModules)}`);
  return engine;
}

function launchBody(id: string, foremanTaskId: string): string {
  return JSON.stringify({
    operation: 'fake',
    options: {},
    input: {
      [id]: {
        action_class: FAKE_ACTION,
        action_input: { hostname: 'web1.example.com', script: 'echo hello', secrets: { ssh_password: 'hunter2' }, callback: { task_id: foremanTaskId, step_id: 3 } },
      },
    },
  });
}

describe('dynflow callbacks to a stand-in Foreman over HTTPS with client certificates', () => {
  let dir: string;
  let pki: Pki;
  let proxyCert: { cert: string; key: string };
  let foreman: StandInForeman;
  /** Callbacks refused before the stand-in accepts them. */
  let refusals = 0;

  before(async () => {
    dir = await tempDir('dynflow-cb');
    pki = await makePki(dir);
    proxyCert = await pki.client('proxy.test');
    foreman = await startStandInForeman(
      (rec) => {
        if (rec.path !== CALLBACK_PATH) return { status: 404, body: 'not found' };
        if (refusals > 0) {
          refusals--;
          return { status: 500, body: 'Internal Server Error' };
        }
        return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"message":"processing"}' };
      },
      { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert },
    );
  });
  after(async () => {
    await foreman?.close();
    await removeDir(dir);
  });

  test('a callback the stand-in refuses (500) arrives with a retry, with the client certificate, headers and body', async () => {
    refusals = 1;
    const proxy = await startTestProxy({
      global: { foreman_url: `${foreman.origin}/some/path`, foreman_ssl_ca: pki.caCert, foreman_ssl_cert: proxyCert.cert, foreman_ssl_key: proxyCert.key },
      files: { dynflow: { ':enabled': true, ':database': join(dir, 'retry.sqlite') } },
    });
    try {
      const engine = engineOf(proxy);
      engine.registerOperation(new FakeOperation());
      const id = randomUUID();
      const foremanTaskId = randomUUID();
      const before = foreman.requests.length;
      const res = await proxy.request('POST', '/dynflow/tasks/launch', { body: launchBody(id, foremanTaskId), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200, res.body);
      await until(async () => (await engine.store.getCallback(id))?.attempts === 1, 'the first (refused) attempt');
      // Meanwhile Foreman's status poll gets the final state.
      const status = JSON.parse((await proxy.request('GET', `/dynflow/tasks/${id}/status`)).body);
      assert.equal(status.state, 'stopped');
      assert.equal(JSON.stringify(status).includes('hunter2'), false);
      await until(async () => (await engine.store.getCallback(id))?.deliveredAt != null, 'the delivery (the first retry comes after about 5 s)', 20_000);

      const calls = foreman.requests.slice(before).filter((r) => r.path === CALLBACK_PATH);
      assert.equal(calls.length, 2, 'one refused, one accepted');
      for (const call of calls) {
        assert.equal(call.method, 'POST');
        assert.equal(call.clientCn, 'proxy.test');
        assert.equal(header(call, 'content-type'), 'application/json');
        assert.equal(header(call, 'accept'), 'application/json,version=2');
        const body = JSON.parse(call.body.toString('utf8'));
        assert.deepEqual(body.callback, { task_id: foremanTaskId, step_id: 3 });
        assert.equal(body.data.exit_status, 0);
        assert.equal(typeof body.data.exit_status_timestamp, 'number');
        assert.deepEqual(
          body.data.result.map((e: { output_type: string; output: string }) => [e.output_type, e.output]),
          [['stdout', 'hello\n']],
        );
        assert.equal(call.body.toString('utf8').includes('hunter2'), false, 'no secret in the callback');
      }
      const delivery = await engine.store.getCallback(id);
      assert.equal(delivery?.attempts, 2);
      assert.equal(delivery?.lastError, null);
    } finally {
      await proxy.close();
    }
  });

  test('without a CA setting the stand-in is still verified (system CAs): an unknown CA is a TLS failure, nothing is sent', async () => {
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin, foreman_ssl_cert: proxyCert.cert, foreman_ssl_key: proxyCert.key },
      files: { dynflow: { ':enabled': true, ':database': ':memory:' } },
    });
    try {
      const engine = engineOf(proxy);
      engine.registerOperation(new FakeOperation());
      const id = randomUUID();
      const before = foreman.requests.length;
      const res = await proxy.request('POST', '/dynflow/tasks/launch', { body: launchBody(id, randomUUID()) });
      assert.equal(res.status, 200, res.body);
      await until(async () => ((await engine.store.getCallback(id))?.attempts ?? 0) >= 1, 'the first attempt');
      const delivery = await engine.store.getCallback(id);
      assert.equal(delivery?.deliveredAt, null);
      assert.match(delivery?.lastError ?? '', /TLS error talking to 127\.0\.0\.1:\d+/);
      assert.notEqual(delivery?.nextAttemptAt, null, 'retried later');
      assert.equal(foreman.requests.length, before, 'no request reached the stand-in');
    } finally {
      await proxy.close();
    }
  });

  test('update/done over HTTPS with a trusted client certificate reach the operation', async () => {
    const foremanCert = await pki.client('foreman.test');
    const proxy = await startTestProxy({
      global: { https_port: 0, ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert, trusted_hosts: ['foreman.test'] },
      files: { dynflow: { ':enabled': 'https', ':database': ':memory:' } },
    });
    try {
      const engine = engineOf(proxy);
      const op = new FakeOperation();
      engine.registerOperation(op);
      const https = proxy.proxy.listeners.find((l) => l.spec.scheme === 'https');
      assert.ok(https);
      const base = `https://127.0.0.1:${https.addresses[0]?.port}`;
      const tls = { ca: pki.caCert, cert: foremanCert.cert, key: foremanCert.key };
      const id = randomUUID();
      const launched = await fetchUrl(`${base}/dynflow/tasks/launch`, { method: 'POST', tls, body: launchBody(id, randomUUID()).replace('"echo hello"', '"echo hello", "mode": "hang"') });
      assert.equal(launched.status, 200, launched.body);
      await until(() => op.started.includes(id), 'the runner');
      const update = await fetchUrl(`${base}/dynflow/tasks/${id}/update`, { method: 'POST', tls, body: '{"step_id": 2, "output": "x"}' });
      assert.equal(update.status, 200, update.body);
      assert.equal(update.headers['content-type'], 'application/json');
      assert.deepEqual(op.events, [{ id, body: { step_id: 2, output: 'x' } }]);
      const unknown = await fetchUrl(`${base}/dynflow/tasks/${randomUUID()}/done`, { method: 'POST', tls, body: '{}' });
      assert.equal(unknown.status, 404);
      // A certificate whose CN is not in trusted_hosts is refused by the standard check.
      const stranger = await pki.client('stranger.test');
      const refused = await fetchUrl(`${base}/dynflow/tasks/${id}/update`, { method: 'POST', tls: { ca: pki.caCert, cert: stranger.cert, key: stranger.key }, body: '{}' });
      assert.equal(refused.status, 403);
      assert.equal(op.events.length, 1);
    } finally {
      await proxy.close();
    }
  });
});
