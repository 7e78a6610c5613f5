// Salt through the real proxy with dynflow: stand-ins for the Salt master's `salt-key` and `salt`
// (Debian 12 packages no salt-master) put first on PATH and run through the real sudo, a Salt API
// stand-in over HTTPS, and a stand-in Foreman receiving the remote execution callbacks. Covers
// Foreman's calls of spec plugins.md §8.1, the `salt` operation (per-host output and exit
// status, no-jid runs, cancel), and the reference's known problems (failing salt-key answered 200;
// names went unchecked into autosign.conf and the salt-key command line).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { startStandInForeman, type StandInForeman } from '../lib/standin-foreman.ts';
import { installSaltCommandStandIns, startSaltApiStandIn, type SaltApiStandIn, type SaltCommandStandIns } from '../lib/salt-standin.ts';
import { execFileP, removeDir, requireCommand, tempDir, waitFor } from '../lib/procs.ts';
import { makePki } from '../lib/certs.ts';

const RUN_SCRIPT = 'Proxy::RemoteExecution::Ssh::Actions::RunScript';
const JSON_HEADERS = { 'content-type': 'application/json' };

interface RunnerOutput {
  result?: Array<{ output_type: string; output: string }>;
  exit_status?: number | string;
}

describe('salt with stand-in salt-key/salt (real sudo), a stand-in Salt API and dynflow', () => {
  let dir: string;
  let cmds: SaltCommandStandIns;
  let api: SaltApiStandIn;
  let foreman: StandInForeman;
  let proxy: TestProxy;
  const originalPath = process.env.PATH;

  before(async () => {
    requireCommand('sudo');
    dir = await tempDir('salt');
    const pki = await makePki(dir);
    cmds = await installSaltCommandStandIns(join(dir, 'master'), {
      minions: { 'web1.example.test': '5d:1e:aa', 'db1.example.test': '6e:2f:bb' },
      minions_pre: { 'new.example.test': '7f:30:cc' },
      minions_rejected: { 'bad.example.test': '80:41:dd' },
      minions_denied: {},
    });
    process.env.PATH = `${cmds.binDir}:${originalPath ?? ''}`;
    api = await startSaltApiStandIn({
      tls: { cert: pki.serverCert, key: pki.serverKey },
      username: 'saltuser',
      password: 's3cret-salt',
      eauth: 'pam',
      environments: { base: ['top.sls', 'apache/init.sls', 'apache/mod_ssl.sls', 'motd.sls'], dev: ['top.sls', 'nginx/init.sls'] },
    });
    foreman = await startStandInForeman(() => ({ status: 200, headers: JSON_HEADERS, body: '{"message":"processing"}' }));
    await writeFile(join(dir, 'salt.saltfile'), 'salt-call:\n  log_level: info\n');
    proxy = await startTestProxy({
      global: { foreman_url: foreman.origin },
      files: {
        dynflow: { ':enabled': true, ':database': join(dir, 'tasks.sqlite') },
        salt: {
          ':enabled': true,
          ':autosign_file': join(dir, 'autosign.conf'),
          ':autosign_key_file': join(dir, 'autosign_key'),
          ':saltfile': join(dir, 'salt.saltfile'),
          ':use_api': true,
          ':api_url': api.url,
          ':api_username': 'saltuser',
          ':api_password': 's3cret-salt',
          ':kill_grace_period': 1,
        },
      },
    });
  });
  after(async () => {
    process.env.PATH = originalPath;
    await proxy?.close();
    await api?.close();
    await foreman?.close();
    if (dir) await removeDir(dir);
  });

  test('the module runs, is published, and its operation is on the task engine', async () => {
    assert.equal(proxy.proxy.records.get('salt')?.state, 'running', proxy.proxy.records.get('salt')?.failure);
    assert.ok((JSON.parse((await proxy.request('GET', '/features')).body) as string[]).includes('salt'));
    const ops = await proxy.request('GET', '/dynflow/tasks/operations');
    assert.ok((JSON.parse(ops.body) as string[]).includes('salt'), ops.body);
  });

  test('autosign entries are added once, listed and removed in autosign_file', async () => {
    const add = await proxy.request('POST', '/salt/autosign/web2.example.test');
    assert.equal(add.status, 200);
    assert.equal(add.body, '{"message":"Added hostname successfully."}');
    assert.equal((await proxy.request('POST', '/salt/autosign/web2.example.test')).status, 200);
    assert.equal((await proxy.request('POST', '/salt/autosign/web3.example.test')).status, 200);
    assert.equal(await readFile(join(dir, 'autosign.conf'), 'utf8'), 'web2.example.test\nweb3.example.test\n');
    assert.equal((await proxy.request('GET', '/salt/autosign')).body, '["web2.example.test","web3.example.test"]');
    assert.equal((await proxy.request('DELETE', '/salt/autosign/web2.example.test')).body, '{"message":"Removed hostname successfully."}');
    assert.equal(await readFile(join(dir, 'autosign.conf'), 'utf8'), 'web3.example.test\n');
    assert.equal((await proxy.request('POST', '/salt/autosign_key/4b227777d4dd1fc6')).body, '{"message":"Added key successfully."}');
    assert.equal(await readFile(join(dir, 'autosign_key'), 'utf8'), '4b227777d4dd1fc6\n');
  });

  test('known problem: a name with a newline cannot add a second autosign line ("*" would autosign every minion)', async () => {
    const before = await readFile(join(dir, 'autosign.conf'), 'utf8');
    const res = await proxy.request('POST', '/salt/autosign/innocent.example.test%0A*');
    assert.equal(res.status, 400);
    assert.match(res.body, /^Invalid minion name 'innocent\.example\.test\\n\*' \(parameter host\)/);
    assert.equal(await readFile(join(dir, 'autosign.conf'), 'utf8'), before);
  });

  test('keys: listed by state; accept, reject and delete run salt-key as salt_command_user through sudo', async () => {
    const list = await proxy.request('GET', '/salt/key');
    assert.equal(list.status, 200, list.body);
    assert.equal(list.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(list.body), {
      'web1.example.test': { state: 'accepted', fingerprint: '5d:1e:aa' },
      'db1.example.test': { state: 'accepted', fingerprint: '6e:2f:bb' },
      'bad.example.test': { state: 'rejected', fingerprint: '80:41:dd' },
      'new.example.test': { state: 'unaccepted', fingerprint: '7f:30:cc' },
    });
    const accept = await proxy.request('POST', '/salt/key/new.example.test');
    assert.equal(accept.status, 200, accept.body);
    assert.equal(accept.body, '');
    assert.equal((await proxy.request('DELETE', '/salt/key/reject/db1.example.test')).status, 200);
    assert.equal((await proxy.request('DELETE', '/salt/key/bad.example.test')).status, 200);
    const keys = await cmds.keys();
    assert.deepEqual(Object.keys(keys.minions).sort(), ['new.example.test', 'web1.example.test']);
    assert.deepEqual(Object.keys(keys.minions_rejected), ['db1.example.test']);
    assert.deepEqual(keys.minions_pre, {});
    const calls = (await cmds.calls()).filter((c) => c.tool === 'salt-key');
    assert.deepEqual(
      calls.map((c) => c.argv.join(' ')),
      ['--finger-all --output=json', '--include-rejected --yes -a new.example.test', '--include-accepted --yes -r db1.example.test', '--yes -d bad.example.test'],
    );
    assert.ok(calls.every((c) => c.uid === 0));
  });

  test('known problem: a failing salt-key is a 406 with its reason (the reference answered 200 with an empty body)', async () => {
    await cmds.setBroken(true);
    try {
      const accept = await proxy.request('POST', '/salt/key/web1.example.test');
      assert.equal(accept.status, 406);
      assert.match(accept.body, /^Failed to accept salt key for web1\.example\.test: salt-key exited with status 2: .*Permission denied/);
      const del = await proxy.request('DELETE', '/salt/key/web1.example.test');
      assert.equal(del.status, 406);
      const list = await proxy.request('GET', '/salt/key');
      assert.equal(list.status, 406);
      assert.equal(list.body, 'Failed to list keys: Execution of salt-key failed, check log files');
    } finally {
      await cmds.setBroken(false);
    }
    assert.ok('web1.example.test' in (await cmds.keys()).minions);
  });

  test('a salt-key that does not finish within command_timeout is stopped and answered 406', async () => {
    const quick = await startTestProxy({
      files: {
        dynflow: { ':enabled': true, ':database': ':memory:' },
        salt: { ':enabled': true, ':autosign_file': join(dir, 'autosign.conf'), ':autosign_key_file': join(dir, 'autosign_key'), ':command_timeout': 0.5 },
      },
    });
    await cmds.setHanging(true);
    try {
      const res = await quick.request('POST', '/salt/key/web1.example.test');
      assert.equal(res.status, 406);
      assert.equal(res.body, 'Failed to accept salt key for web1.example.test: salt-key did not finish within 0.5 seconds and was stopped');
    } finally {
      await cmds.setHanging(false);
      await quick.close();
    }
  });

  test('highstate: published for a known minion; 500 "Check Log files" when salt fails', async () => {
    const ok = await proxy.request('POST', '/salt/highstate/web1.example.test');
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.body, '');
    const calls = await cmds.calls();
    assert.deepEqual(calls[calls.length - 1]?.argv, ['--async', 'web1.example.test', 'state.highstate']);
    const failed = await proxy.request('POST', '/salt/highstate/ghost.example.test');
    assert.equal(failed.status, 500);
    assert.equal(failed.body, 'Failed salt run for ghost.example.test: Check Log files');
  });

  test('environments and states come from the Salt API, the credentials in the form body', async () => {
    const envs = await proxy.request('GET', '/salt/environments');
    assert.equal(envs.status, 200, envs.body);
    assert.equal(envs.body, '["base","dev"]');
    const states = await proxy.request('GET', '/salt/environments/base');
    assert.equal(states.body, '["apache","apache.mod_ssl","motd"]');
    const last = api.requests[api.requests.length - 1];
    assert.equal(last?.path, '/run');
    assert.equal(last?.contentType, 'application/x-www-form-urlencoded');
    assert.deepEqual(last?.form, { fun: 'fileserver.file_list', client: 'runner', saltenv: 'base', username: 'saltuser', password: 's3cret-salt', eauth: 'pam' });
    const log = await readFile(join(proxy.settingsDir, 'proxy.log'), 'utf8');
    assert.ok(!log.includes('s3cret-salt'), 'the Salt API password is never logged');
  });

  const launch = async (hosts: Array<{ id: string; name: string; script: string; timeout?: number }>): Promise<void> => {
    const input = Object.fromEntries(
      hosts.map((h) => [
        h.id,
        {
          action_class: RUN_SCRIPT,
          action_input: {
            name: h.name,
            hostname: h.name,
            script: h.script,
            execution_timeout_interval: h.timeout ?? null,
            callback: { task_id: `foreman-${h.id}`, step_id: 3 },
            proxy_operation_name: 'salt',
          },
        },
      ]),
    );
    const res = await proxy.request('POST', '/dynflow/tasks/launch', { body: JSON.stringify({ operation: 'salt', input, options: {} }), headers: JSON_HEADERS });
    assert.equal(res.status, 200, res.body);
    assert.equal((JSON.parse(res.body) as { parent: { result: string } }).parent.result, 'success', res.body);
  };

  const finished = async (id: string): Promise<RunnerOutput> => {
    let output: RunnerOutput = {};
    await waitFor(`task ${id} to stop`, async () => {
      const res = await proxy.request('GET', `/dynflow/tasks/${id}/status`);
      const status = JSON.parse(res.body) as { state: string; actions: Array<{ input: { task_id?: string }; output: RunnerOutput }> };
      output = status.actions.find((a) => a.input.task_id === `foreman-${id}`)?.output ?? {};
      return status.state === 'stopped';
    }, 30_000);
    return output;
  };

  const text = (o: RunnerOutput, type?: string): string => (o.result ?? []).filter((e) => type === undefined || e.output_type === type).map((e) => e.output).join('');

  test('remote execution: one salt run per host with its output and exit status; no job id is a failure; Foreman gets the callbacks', async () => {
    const ok = randomUUID();
    const failing = randomUUID();
    const unmatched = randomUUID();
    await launch([
      { id: ok, name: 'web1.example.test', script: 'foreman_rex:\n  test.succeed_without_changes: []\n' },
      { id: failing, name: 'web1.example.test', script: 'fail_me:\n  test.fail_without_changes: []\n' },
      { id: unmatched, name: 'ghost.example.test', script: 'x:\n  test.nop: []\n' },
    ]);
    const okOut = await finished(ok);
    assert.equal(okOut.exit_status, 0, JSON.stringify(okOut));
    assert.match(text(okOut, 'stdout'), /^jid: \d{20}\n/);
    assert.match(text(okOut, 'stdout'), /Succeeded: 1/);
    const failOut = await finished(failing);
    assert.equal(failOut.exit_status, 1);
    assert.match(text(failOut, 'stderr'), /state failed/);
    const noJid = await finished(unmatched);
    assert.equal(noJid.exit_status, 1);
    assert.match(text(noJid, 'stderr'), /No minions matched the target/);

    const runs = (await cmds.calls()).filter((c) => c.tool === 'salt' && c.argv.includes('state.template_str'));
    const okRun = runs.find((c) => c.argv.includes('foreman_rex:\n  test.succeed_without_changes: []\n'));
    assert.deepEqual(okRun?.argv, ['--show-jid', `--saltfile=${join(dir, 'salt.saltfile')}`, 'web1.example.test', 'state.template_str', 'foreman_rex:\n  test.succeed_without_changes: []\n']);

    await waitFor('the three callbacks', () => foreman.requests.filter((r) => r.path === '/foreman_tasks/api/tasks/callback').length >= 3);
    const callbacks = foreman.requests.filter((r) => r.path === '/foreman_tasks/api/tasks/callback').map((r) => JSON.parse(r.body.toString()) as { callback: { task_id: string }; data: { exit_status: number } });
    assert.equal(callbacks.find((c) => c.callback.task_id === `foreman-${ok}`)?.data.exit_status, 0);
    assert.equal(callbacks.find((c) => c.callback.task_id === `foreman-${unmatched}`)?.data.exit_status, 1);
  });

  test('remote execution: a target that is not a minion name is refused before anything runs', async () => {
    const id = randomUUID();
    const before = (await cmds.calls()).length;
    await launch([{ id, name: '-L', script: 'x: {}' }]);
    const out = await finished(id);
    assert.equal(out.exit_status, 'EXCEPTION');
    assert.equal((await cmds.calls()).length, before);
  });

  test('remote execution: cancelling a run stops salt and reports exit 1 with the abort line', async () => {
    const id = randomUUID();
    const marker = `sleep_me-${id}`;
    await launch([{ id, name: 'web1.example.test', script: `${marker}:\n  test.nop: []\n` }]);
    const pgrep = requireCommand('pgrep');
    const running = async (): Promise<boolean> => {
      try {
        await execFileP(pgrep, ['-f', marker]);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor('salt to start', running);
    const cancel = await proxy.request('POST', `/dynflow/tasks/${id}/cancel`, { body: '{}', headers: JSON_HEADERS });
    assert.equal(cancel.status, 200, cancel.body);
    const out = await finished(id);
    assert.equal(out.exit_status, 1);
    assert.match(text(out, 'stdout'), /== TASK ABORTED BY USER ==/);
    await waitFor('salt to be gone', async () => !(await running()), 10_000);
  });
});
