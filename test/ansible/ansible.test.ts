// The ansible module end to end: the proxy binary over HTTPS (Foreman's client certificate), the
// real dynflow engine on a SQLite file, the Debian ansible-runner and ansible-playbook running a
// real role over SSH against a real sshd on loopback, and a stand-in Foreman receiving the
// callbacks. 100 inventory hosts are 100 names for the same sshd (ansible_host/ansible_port).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { execFileP, freeTcpPort, requireCommand, waitFor } from '../lib/procs.ts';
import { KEY_PASSPHRASE, ansibleHost, launchBody, text, type AnsibleBench, type CallbackBody, type AnsibleHost, startAnsibleBench } from './harness.ts';

const ROLE_PLAYBOOK = (role: string): string => `---\n- hosts: all\n  gather_facts: false\n  roles:\n    - ${role}\n`;

async function pids(pattern: string): Promise<number[]> {
  try {
    const { stdout } = await execFileP(requireCommand('pgrep'), ['-f', pattern]);
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('ansible-runner jobs over SSH against a real sshd, callbacks to a stand-in Foreman', () => {
  let bench: AnsibleBench;
  const markers: string[] = [];
  const marker = (): string => {
    const m = `sleep ${60 + randomInt(30)}.${randomInt(100000, 999999)}`;
    markers.push(m);
    return m;
  };

  const hostvars = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ansible_host: '127.0.0.1',
    ansible_port: bench.sshd.port,
    ansible_user: bench.sshd.users.nopw.name,
    ...extra,
  });

  const launch = async (hosts: readonly AnsibleHost[]): Promise<{ parent: { result: string; task_id: string } }> => {
    const res = await bench.call('POST', '/dynflow/tasks/launch', launchBody(hosts));
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body) as { parent: { result: string; task_id: string } };
  };

  before(async () => {
    bench = await startAnsibleBench();
  });

  after(async () => {
    for (const m of markers) for (const pid of await pids(m)) process.kill(pid, 'SIGKILL');
    await bench?.close();
  });

  test('a job of 100 hosts runs in one ansible-runner; each host’s output and exit status reach Foreman', async () => {
    const closedPort = await freeTcpPort('127.0.0.1');
    // Every 10th host from 3 fails its task (2), every 10th from 7 cannot be reached (1), the
    // rest succeed (0): one host's result never leaks into another's (spec §3.5).
    const expected = (i: number): number => (i % 10 === 3 ? 2 : i % 10 === 7 ? 1 : 0);
    const hosts = Array.from({ length: 100 }, (_, i) => {
      const name = `host-${String(i).padStart(3, '0')}.example.com`;
      return ansibleHost(name, {
        playbook: ROLE_PLAYBOOK('hello'),
        hostvars: hostvars({ ...(i % 10 === 3 ? { fail_me: true } : {}), ...(i % 10 === 7 ? { ansible_port: closedPort } : {}) }),
      });
    });
    const answer = await launch(hosts);
    assert.equal(answer.parent.result, 'success');
    const callbacks = await bench.waitCallbacks(
      hosts.map((h) => h.foremanTaskId),
      120_000,
    );
    hosts.forEach((h, i) => {
      const cb = callbacks.get(h.foremanTaskId);
      const out = text(cb);
      assert.equal(cb?.data.exit_status, expected(i), `${h.name}: ${out}`);
      if (expected(i) === 1) assert.match(out, /UNREACHABLE/, h.name);
      else assert.ok(out.includes(`hello from ${h.name} as ${bench.sshd.users.nopw.name}`), `${h.name}: ${out}`);
      if (expected(i) === 2) assert.ok(out.includes(`${h.name} was asked to fail`), out);
      // Its own recap line, and nobody else's task output.
      assert.match(out.replace(/\u001b\[[0-9;]*m/g, ''), new RegExp(`^${h.name.replace(/\./g, '\\.')}\\s+:`, 'm'));
      const other = hosts[(i + 1) % hosts.length]?.name as string;
      assert.ok(!out.includes(`hello from ${other} `), `${h.name} got ${other}'s output`);
    });
    // One ansible-runner for the batch: every host's output holds the same play header, once.
    const first = text(callbacks.get(hosts[0]?.foremanTaskId as string));
    assert.equal(first.match(/PLAY \[all\]/g)?.length, 1, first);
    const log = await bench.proxyLog();
    assert.equal(log.match(/running ansible-runner for \d+ hosts/g)?.length, 1, 'one ansible-runner process for the whole batch');
    assert.match(log, /running ansible-runner for 100 hosts/);
    const states = JSON.parse((await bench.call('POST', '/dynflow/tasks/status', { task_ids: [answer.parent.task_id, ...hosts.map((h) => h.id)] })).body) as Record<string, { state: string; result: string }>;
    hosts.forEach((h, i) => assert.deepEqual(states[h.id], { state: 'stopped', result: expected(i) === 0 ? 'success' : 'error' }));
    // The private run directory is gone.
    assert.deepEqual(await readdir(bench.workDir), []);
  });

  const runnersIn = (dir: string): Promise<number[]> => pids(`ansible-runner run ${dir}/`);

  test('the listing routes read the roles and collections paths of ansible.cfg', async () => {
    const get = async (path: string): Promise<{ status: number; body: unknown }> => {
      const r = await bench.call('GET', path);
      return { status: r.status, body: JSON.parse(r.body) as unknown };
    };
    assert.deepEqual(await get('/ansible/roles'), { status: 200, body: ['become', 'broken', 'hello', 'slow', 'acme.tools.crole'] });
    const all = await get('/ansible/roles/variables');
    assert.equal(all.status, 200);
    // `broken` (defaults that are a YAML list) is left out, as the plugin does.
    assert.deepEqual(all.body, { become: {}, hello: { hello_greeting: 'hi', hello_list: [1, 2], hello_more: true }, slow: {}, 'acme.tools.crole': { crole_port: 8080 } });
    assert.deepEqual(await get('/ansible/roles/acme.tools.crole/variables'), { status: 200, body: { 'acme.tools.crole': { crole_port: 8080 } } });
    const unknown = await get('/ansible/roles/nope/variables');
    assert.equal(unknown.status, 404);
    assert.match((unknown.body as { error: string }).error, /^role_name: no role 'nope' in the roles paths/);
    const bad = await get('/ansible/roles/a..b/variables');
    assert.equal(bad.status, 400);
    assert.match((bad.body as { error: string }).error, /^role_name: 'a\.\.b' is not a role name/);
    assert.deepEqual(await get('/ansible/playbooks_names'), { status: 200, body: ['acme.tools.site', 'acme.tools.site_extra'] });
    // Exact names: the plugin also returned acme.tools.site here (a substring of the parameter).
    const some = await get('/ansible/playbooks/acme.tools.site_extra');
    assert.deepEqual(some.body, [{ name: 'acme.tools.site_extra', playbooks_content: '---\n- hosts: all\n  gather_facts: false\n' }]);
    const both = (await get('/ansible/playbooks')).body as Array<{ name: string }>;
    assert.deepEqual(
      both.map((p) => p.name),
      ['acme.tools.site', 'acme.tools.site_extra'],
    );
  });

  test('bad host data fails that host with the field named; the others run', async () => {
    const good = ansibleHost('good.example.com', { playbook: ROLE_PLAYBOOK('hello'), hostvars: hostvars() });
    const noVars = ansibleHost('novars.example.com', { playbook: ROLE_PLAYBOOK('hello'), hostvars: hostvars() });
    (noVars.input.ansible_inventory as { _meta: { hostvars: Record<string, unknown> } })._meta.hostvars = { 'someone-else.example.com': {} };
    const badYaml = ansibleHost('badyaml.example.com', { playbook: '- hosts: all\n  roles: [hello\n', hostvars: hostvars() });
    const unknownRole = ansibleHost('norole.example.com', { playbook: ROLE_PLAYBOOK('no_such_role'), hostvars: hostvars() });
    await launch([good, noVars, badYaml]);
    await launch([unknownRole]);
    const cbs = await bench.waitCallbacks([good, noVars, badYaml, unknownRole].map((h) => h.foremanTaskId));
    assert.equal(cbs.get(good.foremanTaskId)?.data.exit_status, 0, text(cbs.get(good.foremanTaskId)));
    assert.equal(cbs.get(noVars.foremanTaskId)?.data.exit_status, 'EXCEPTION');
    assert.match(text(cbs.get(noVars.foremanTaskId)), /ansible_inventory\._meta\.hostvars\.novars\.example\.com: is required/);
    assert.equal(cbs.get(badYaml.foremanTaskId)?.data.exit_status, 'EXCEPTION');
    assert.match(text(cbs.get(badYaml.foremanTaskId)), /script: is not valid YAML/);
    // A role the proxy does not have: ansible says so in the host's output, and the host fails.
    const missing = cbs.get(unknownRole.foremanTaskId);
    assert.notEqual(missing?.data.exit_status, 0);
    assert.match(text(missing), /no_such_role/);
  });

  test('the job’s become password overrides the per-host one, and appears nowhere', async () => {
    const { pw, target } = bench.sshd.users;
    const h = ansibleHost('become.example.com', {
      playbook: ROLE_PLAYBOOK('become'),
      hostvars: hostvars({ ansible_user: pw.name, ansible_become: true, ansible_become_method: 'sudo', ansible_become_user: target.name }),
      secrets: { effective_user_password: pw.password, 'per-host': { 'become.example.com': { ansible_password: '', ansible_become_password: 'not-the-password' } } },
    });
    await launch([h]);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.equal(cb?.data.exit_status, 0, text(cb));
    assert.match(text(cb), new RegExp(`effective user ${target.name}`));
    // The theforeman.foreman callback (not packaged here) would post reports with these.
    assert.ok(text(cb).includes(`callback to ${bench.foreman.origin} with ${bench.dir}/`), text(cb));
    const status = await bench.call('GET', `/dynflow/tasks/${h.id}/status`);
    for (const where of [JSON.stringify(cb), status.body, await bench.proxyLog()]) {
      assert.ok(!where.includes(pw.password));
      assert.ok(!where.includes(KEY_PASSPHRASE));
    }
  });

  test('a wrong key passphrase fails the host at once, where the plugin’s prompt answer looped', async () => {
    const wrong = `wrong ${randomInt(1_000_000)}`;
    const h = ansibleHost('badkey.example.com', { playbook: ROLE_PLAYBOOK('hello'), hostvars: hostvars(), secrets: { key_passphrase: wrong } });
    await launch([h]);
    const cb = (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
    assert.notEqual(cb?.data.exit_status, 0, text(cb));
    assert.match(text(cb), /Bad passphrase/);
    assert.ok(!JSON.stringify(cb).includes(wrong));
    assert.deepEqual(await readdir(bench.workDir), []);
  });

  test('first execution prunes the host’s old key from known_hosts (spec §3.5, Foreman #38332)', async () => {
    const envFile = join(bench.dir, 'ansible.env');
    const knownHosts = join(bench.dir, 'known_hosts');
    const saved = await readFile(envFile, 'utf8');
    // Strict host key checking for this test (new keys accepted, changed keys refused), without
    // connection sharing (a master of an earlier test would skip the check).
    await writeFile(
      envFile,
      saved
        .replace('ANSIBLE_HOST_KEY_CHECKING=False', 'ANSIBLE_HOST_KEY_CHECKING=True')
        .replace(/export ANSIBLE_SSH_ARGS=.*\n/, `export ANSIBLE_SSH_ARGS="-o ControlMaster=no -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${knownHosts}"\n`),
    );
    try {
      // The host was "rebuilt": known_hosts holds another key for it.
      const stale = (await readFile(join(bench.sshd.dir, 'id_plain.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
      await writeFile(knownHosts, `[127.0.0.1]:${bench.sshd.port} ${stale}\n`);
      const run = async (name: string, firstExecution: boolean): Promise<CallbackBody | undefined> => {
        const h = ansibleHost(name, { playbook: ROLE_PLAYBOOK('hello'), hostvars: hostvars(), extra: { first_execution: firstExecution } });
        await launch([h]);
        return (await bench.waitCallbacks([h.foremanTaskId])).get(h.foremanTaskId);
      };
      const refused = await run('kh1.example.com', false);
      assert.equal(refused?.data.exit_status, 1, text(refused));
      assert.match(text(refused), /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
      const first = await run('kh2.example.com', true);
      assert.equal(first?.data.exit_status, 0, text(first));
      const now = await readFile(knownHosts, 'utf8');
      assert.ok(now.includes(bench.sshd.hostKey), now);
      assert.ok(!now.includes(stale), now);
    } finally {
      await writeFile(envFile, saved);
    }
  });

  test('a timed-out job is killed and every host is marked failed (spec §3.5, Foreman #38238)', async () => {
    const m = marker();
    const hosts = ['t1.example.com', 't2.example.com'].map((n) =>
      ansibleHost(n, { playbook: ROLE_PLAYBOOK('slow'), hostvars: hostvars({ slow_command: m }), extra: { execution_timeout_interval: 3 } }),
    );
    await launch(hosts);
    const cbs = await bench.waitCallbacks(hosts.map((h) => h.foremanTaskId));
    for (const h of hosts) {
      const cb = cbs.get(h.foremanTaskId);
      assert.equal(cb?.data.exit_status, 2, text(cb));
      assert.match(text(cb), /Timeout for execution passed, stopping the job/);
    }
    const states = JSON.parse((await bench.call('POST', '/dynflow/tasks/status', { task_ids: hosts.map((h) => h.id) })).body) as Record<string, { result: string }>;
    assert.deepEqual(
      hosts.map((h) => states[h.id]?.result),
      ['error', 'error'],
    );
    await waitFor('ansible-runner to be gone', async () => (await runnersIn(bench.workDir)).length === 0, 15_000);
    assert.deepEqual(await readdir(bench.workDir), []);
  });

  test('cancel stops ansible-runner and fails every host of the batch', async () => {
    const m = marker();
    const hosts = ['c1.example.com', 'c2.example.com'].map((n) => ansibleHost(n, { playbook: ROLE_PLAYBOOK('slow'), hostvars: hostvars({ slow_command: m }) }));
    await launch(hosts);
    await waitFor('the remote commands to start', async () => (await pids(m)).length > 0, 30_000);
    const res = await bench.call('POST', `/dynflow/tasks/${hosts[1]?.id}/cancel`, '');
    assert.equal(res.status, 200, res.body);
    assert.equal((JSON.parse(res.body) as { canceled_steps_count: number }).canceled_steps_count, 1);
    const cbs = await bench.waitCallbacks(hosts.map((h) => h.foremanTaskId));
    for (const h of hosts) {
      assert.equal(cbs.get(h.foremanTaskId)?.data.exit_status, 2);
      assert.match(text(cbs.get(h.foremanTaskId)), /The job was cancelled/);
    }
    await waitFor('ansible-runner to be gone', async () => (await runnersIn(bench.workDir)).length === 0, 15_000);
  });

  test('a proxy killed mid-run: after the restart the hosts fail clearly, the orphan runner and its files are gone', async () => {
    const m = marker();
    const hosts = ['r1.example.com', 'r2.example.com'].map((n) => ansibleHost(n, { playbook: ROLE_PLAYBOOK('slow'), hostvars: hostvars({ slow_command: m }) }));
    await launch(hosts);
    await waitFor('the remote commands to start', async () => (await pids(m)).length > 0, 30_000);
    assert.ok((await runnersIn(bench.workDir)).length > 0);
    await bench.kill();
    await bench.restart();
    const cbs = await bench.waitCallbacks(hosts.map((h) => h.foremanTaskId));
    for (const h of hosts) {
      assert.equal(cbs.get(h.foremanTaskId)?.data.exit_status, 'EXCEPTION');
      assert.match(text(cbs.get(h.foremanTaskId)), /cannot be resumed/);
    }
    await waitFor('the orphan ansible-runner to be stopped', async () => (await runnersIn(bench.workDir)).length === 0, 15_000);
    assert.deepEqual(await readdir(bench.workDir), []);
  });
});
