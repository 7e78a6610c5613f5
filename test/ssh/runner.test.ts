// The in-process SSH runner (src/lib/ssh/runner.ts) against a real OpenSSH server on loopback with
// throw-away local users, real sudo and su, and a dzdo stand-in (test/lib/sshd.ts). The "remote"
// host is this machine, so the tests look at remote processes and files directly.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { startSshd, type Sshd } from '../lib/sshd.ts';
import { execFileP, requireCommand, waitFor } from '../lib/procs.ts';
import { createSshRunner, SshInputError, SshQueueFullError } from '../../src/lib/ssh/runner.ts';
import { MemoryKnownHostsStore, knownHostsName } from '../../src/lib/ssh/known-hosts.ts';
import type { ScriptResult, ScriptRun, SshCredentials, SshRunner, SshRunnerOptions } from '../../src/lib/ssh/types.ts';

let sshd: Sshd;
let runner: SshRunner;
let knownHosts: MemoryKnownHostsStore;

function makeRunner(overrides: Partial<SshRunnerOptions> = {}): SshRunner {
  return createSshRunner({
    maxConcurrentHosts: 10,
    maxQueued: 100,
    connectTimeoutMs: 10_000,
    keepaliveIntervalMs: 5_000,
    keepaliveCountMax: 3,
    killGraceMs: 1_000,
    knownHosts,
    hostKeyPolicy: 'accept-new',
    ...overrides,
  });
}

before(async () => {
  sshd = await startSshd({ addresses: ['127.0.0.1', '127.0.0.2'] });
  knownHosts = new MemoryKnownHostsStore();
  runner = makeRunner();
});

after(async () => {
  await runner?.close();
  await sshd?.stop();
});

interface Outcome {
  result: ScriptResult;
  output: { type: string; text: string }[];
  stdout: string;
  debug: string;
  all: string;
}

async function runScript(
  script: string,
  opts: { user?: string; credentials?: SshCredentials; run?: Partial<ScriptRun>; on?: SshRunner; port?: number; host?: string } = {},
): Promise<Outcome> {
  const output: { type: string; text: string }[] = [];
  const result = await (opts.on ?? runner).run(
    { host: opts.host ?? sshd.host, port: opts.port ?? sshd.port, user: opts.user ?? sshd.users.nopw.name },
    opts.credentials ?? { privateKey: sshd.clientKey },
    {
      script,
      effectiveUserMethod: 'sudo',
      remoteWorkingDir: sshd.workDir,
      cleanup: true,
      signal: new AbortController().signal,
      onOutput: (type, text) => {
        output.push({ type, text });
      },
      ...opts.run,
    },
  );
  const of = (t: string): string => output.filter((o) => o.type === t).map((o) => o.text).join('');
  return { result, output, stdout: of('stdout'), debug: of('debug'), all: output.map((o) => o.text).join('') };
}

function runDirs(): string[] {
  return readdirSync(sshd.workDir).filter((n) => n.startsWith('foreman-ssh-cmd-'));
}

async function processesMatching(pattern: string): Promise<string[]> {
  try {
    const { stdout } = await execFileP(requireCommand('pgrep'), ['-a', '-f', pattern]);
    return stdout.split('\n').filter(Boolean);
  } catch {
    return []; // pgrep: nothing matched
  }
}

test('key login: script output, exit status 0, working dir removed afterwards', async () => {
  const before = runDirs().length;
  const o = await runScript('echo "hello from $(id -un)"');
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.match(o.result.runnerId, /^[0-9a-f-]{36}$/);
  assert.equal(o.stdout, `hello from ${sshd.users.nopw.name}\n`);
  assert.equal(runDirs().length, before);
});

test('exit codes and both streams of the script arrive (merged by the terminal, like the reference)', async () => {
  const o = await runScript('echo to-stdout; echo to-stderr >&2; exit 42');
  assert.equal(o.result.exitStatus, 42);
  assert.match(o.stdout, /to-stdout\n/);
  assert.match(o.stdout, /to-stderr\n/);
});

test('without cleanup the files of spec §4.5 stay, with their modes and exit code', async () => {
  const o = await runScript('echo kept; exit 7', { run: { cleanup: false } });
  assert.equal(o.result.exitStatus, 7);
  const dir = join(sshd.workDir, `foreman-ssh-cmd-${o.result.runnerId}`);
  const { stdout } = await execFileP('stat', ['-c', '%n %a', join(dir, 'script'), join(dir, 'script-wrapper'), join(dir, 'output')]);
  assert.match(stdout, /\/script 500\n.*\/script-wrapper 500\n.*\/output 600\n/);
  assert.equal(await readFile(join(dir, 'output'), 'utf8'), 'kept\n');
  assert.equal((await readFile(join(dir, 'exit_code'), 'utf8')).trim(), '7');
  assert.ok(!existsSync(join(dir, 'preflight')));
  await execFileP('rm', ['-rf', dir]);
});

test('a missing exit_code file gives exit status 1; a failed cleanup becomes a debug line', async () => {
  // The script takes its own write permission on the run dir: the wrapper cannot store its exit code.
  const o = await runScript('chmod 0500 "$(dirname "$0")"; exit 0');
  assert.equal(o.result.exitStatus, 1);
  assert.match(o.debug, /Could not remove the remote working directory/);
  await execFileP('rm', ['-rf', join(sshd.workDir, `foreman-ssh-cmd-${o.result.runnerId}`)]);
});

test('password login (ssh_password)', async () => {
  const o = await runScript('id -un', { user: sshd.users.pw.name, credentials: { password: sshd.users.pw.password } });
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.equal(o.stdout, `${sshd.users.pw.name}\n`);
  assert.ok(!o.all.includes(sshd.users.pw.password));
});

test('a wrong password fails with the methods tried', async () => {
  const o = await runScript('true', { user: sshd.users.pw.name, credentials: { password: 'wrong' } });
  assert.equal(o.result.exitStatus, 'EXCEPTION');
  assert.match(o.debug, /Could not establish connection to remote host using any available authentication method, tried password/);
});

test('a passphrase-protected key works with its passphrase and is skipped with a clear reason without', async () => {
  const ok = await runScript('id -un', { credentials: { privateKey: sshd.encryptedClientKey, passphrase: sshd.clientKeyPassphrase } });
  assert.equal(ok.result.exitStatus, 0, ok.all);
  const bad = await runScript('id -un', { credentials: { privateKey: sshd.encryptedClientKey } });
  assert.equal(bad.result.exitStatus, 'EXCEPTION');
  assert.match(bad.debug, /There are no available authentication methods.*no key_passphrase was given/);
});

test('sudo without password (NOPASSWD)', async () => {
  const o = await runScript('id -un', { run: { effectiveUser: 'root', effectiveUserMethod: 'sudo' } });
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.match(o.stdout, /^root\n$/m);
});

test('sudo with password: the prompt is answered and the password never reaches the output', async () => {
  const password = sshd.users.pw.password;
  // Even a script that prints the password does not get it through.
  const o = await runScript(`id -un; printf '%s\\n' ${"'" + password.replaceAll("'", `'\\''`) + "'"}`, {
    user: sshd.users.pw.name,
    run: { effectiveUser: 'root', effectiveUserMethod: 'sudo', effectiveUserPassword: password },
  });
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.match(o.stdout, /rex login: /);
  assert.match(o.stdout, /^root$/m);
  assert.match(o.stdout, /\*{8}/);
  assert.ok(!o.all.includes(password));
});

test('sudo with a wrong password fails the preflight; no password at all fails at the first prompt', async () => {
  const wrong = await runScript('id -un', {
    user: sshd.users.pw.name,
    run: { effectiveUser: 'root', effectiveUserMethod: 'sudo', effectiveUserPassword: 'not-the-password' },
  });
  assert.equal(wrong.result.exitStatus, 'EXCEPTION');
  assert.match(wrong.debug, /Failed to change to effective user/);
  const none = await runScript('id -un', { user: sshd.users.pw.name, run: { effectiveUser: 'root', effectiveUserMethod: 'sudo' } });
  assert.equal(none.result.exitStatus, 'EXCEPTION');
  assert.match(none.debug, /sudo asked for a password but no effective_user_password was given/);
});

test('su with the target user password', async () => {
  const { target, pw } = sshd.users;
  const o = await runScript('id -un; echo "$HOME"', {
    user: pw.name,
    run: { effectiveUser: target.name, effectiveUserMethod: 'su', effectiveUserPassword: target.password },
  });
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.match(o.stdout, new RegExp(`^${target.name}\\n/home/${target.name}$`, 'm'));
  assert.ok(!o.all.includes(target.password));
});

test('dzdo (stand-in script: prompts Password: and switches through sudo)', async () => {
  const { pw } = sshd.users;
  const o = await runScript('id -un', { user: pw.name, run: { effectiveUser: 'root', effectiveUserMethod: 'dzdo', effectiveUserPassword: pw.password } });
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.match(o.stdout, /Password:/);
  assert.match(o.stdout, /^root$/m);
  assert.ok(!o.all.includes(pw.password));
});

test('large output arrives complete, in bounded chunks, UTF-8 intact across chunk boundaries', async () => {
  const line = 'ä€😀 multibyte line\n';
  const lines = 60_000; // ~1.5 MB
  const o = await runScript(`i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; yes '${line.trimEnd()}' | head -n ${lines}`);
  assert.equal(o.result.exitStatus, 0);
  const chunks = o.output.filter((c) => c.type === 'stdout');
  assert.ok(chunks.length > 1, `expected several chunks, got ${chunks.length}`);
  for (const c of chunks) assert.ok(Buffer.byteLength(c.text) <= 64 * 1024);
  assert.ok(!o.stdout.includes('\ufffd'));
  assert.equal(o.stdout, line.repeat(lines));
});

async function cancelTest(effectiveUser: string | undefined): Promise<void> {
  const marker = `${3000 + randomInt(1000)}.${randomInt(1e9)}`;
  // One sleep in the background, one ignoring TERM (needs the KILL), one in the foreground.
  const script = [
    'echo started',
    `sleep ${marker}1 &`,
    `sh -c "trap '' TERM; sleep ${marker}2" &`,
    `sleep ${marker}3`,
  ].join('\n');
  const controller = new AbortController();
  const output: string[] = [];
  const done = runner.run(
    { host: sshd.host, port: sshd.port, user: sshd.users.nopw.name },
    { privateKey: sshd.clientKey },
    {
      script,
      effectiveUser,
      effectiveUserMethod: 'sudo',
      remoteWorkingDir: sshd.workDir,
      cleanup: true,
      signal: controller.signal,
      onOutput: (_t, text) => {
        output.push(text);
        if (output.join('').includes('started')) controller.abort(new Error('cancelled by the test'));
      },
    },
  );
  await waitFor('the script to start', () => output.join('').includes('started'));
  const result = await done;
  assert.notEqual(result.exitStatus, 0);
  assert.match(output.join(''), /Stopping the job: cancelled by the test/);
  await waitFor('the remote processes to be gone', async () => (await processesMatching(`sleep ${marker}`)).length === 0, 10_000);
  assert.deepEqual(await processesMatching(`sleep ${marker}`), []);
}

test('cancel kills the whole remote process tree (TERM, then KILL for what ignores TERM)', async () => {
  await cancelTest(undefined);
});

test('cancel kills the remote tree of a script run through sudo', async () => {
  await cancelTest('root');
});

test('timeout (an aborting signal) stops a running script', async () => {
  const marker = `${4000 + randomInt(1000)}.${randomInt(1e9)}`;
  const o = await runScript(`echo started; sleep ${marker}`, { run: { signal: AbortSignal.timeout(1500) } });
  assert.notEqual(o.result.exitStatus, 0);
  assert.match(o.debug, /Stopping the job/);
  await waitFor('the remote sleep to be gone', async () => (await processesMatching(`sleep ${marker}`)).length === 0, 10_000);
});

test('a host that accepts TCP and never speaks SSH fails within the connect deadline', async () => {
  const sockets = new Set<Socket>();
  const silent: Server = createServer((s) => {
    sockets.add(s);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  try {
    const quick = makeRunner({ connectTimeoutMs: 1500 });
    const o = await runScript('true', { on: quick, port });
    assert.equal(o.result.exitStatus, 'EXCEPTION');
    assert.match(o.debug, /accepted the TCP connection but did not complete the SSH handshake within 1500 ms/);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('a host that vanishes while the script runs is detected by the keepalive', async () => {
  const marker = `${5000 + randomInt(1000)}.${randomInt(1e9)}`;
  const quick = makeRunner({ keepaliveIntervalMs: 300, keepaliveCountMax: 2 });
  const output: string[] = [];
  const done = quick.run(
    { host: sshd.host, port: sshd.port, user: sshd.users.nopw.name },
    { privateKey: sshd.clientKey },
    { script: `echo started; sleep ${marker}`, effectiveUserMethod: 'sudo', remoteWorkingDir: sshd.workDir, cleanup: true, signal: new AbortController().signal, onOutput: (_t, text) => void output.push(text) },
  );
  await waitFor('the script to start', () => output.join('').includes('started'));
  // Freeze the sshd processes serving this user's connection (the tests run one at a time), as if
  // the host had dropped off the network.
  const frozen = (await processesMatching(`^sshd: ${sshd.users.nopw.name}`)).map((l) => Number(l.split(' ')[0]));
  assert.ok(frozen.length > 0);
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  try {
    const result = await done;
    assert.equal(result.exitStatus, 'EXCEPTION');
    assert.match(output.join(''), /The connection to 127\.0\.0\.1:\d+ was lost while the script ran: Keepalive timeout/);
  } finally {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const line of await processesMatching(`sleep ${marker}`)) process.kill(Number(line.split(' ')[0]), 'SIGKILL');
    await execFileP('sh', ['-c', `rm -rf ${sshd.workDir}/foreman-ssh-cmd-*`]);
  }
});

test('host keys: a changed key fails naming both fingerprints; first_execution forgets it', async () => {
  const store = new MemoryKnownHostsStore();
  const name = knownHostsName(sshd.host, sshd.port);
  // A key the server does not have, pinned as if learned earlier.
  await store.add(name, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1JqPBomr7YYXhU0EX7nEhiKDTpz0jTc2vS0FTBhkkd');
  const pinned = makeRunner({ knownHosts: store });
  const changed = await runScript('true', { on: pinned });
  assert.equal(changed.result.exitStatus, 'EXCEPTION');
  assert.match(changed.debug, new RegExp(`Host key verification failed for ${sshd.host}:${sshd.port}: the host key has changed`));
  assert.match(changed.debug, /Known: SHA256:\S+; offered now: ssh-ed25519 SHA256:\S+/);

  const rebuilt = await runScript('true', { on: pinned, run: { firstExecution: true } });
  assert.equal(rebuilt.result.exitStatus, 0, rebuilt.all);
  assert.deepEqual(await store.get(name), [sshd.hostKey]);
});

test('host keys: strict refuses an unknown host; host_public_key pins for one run only', async () => {
  const store = new MemoryKnownHostsStore();
  const strict = makeRunner({ knownHosts: store, hostKeyPolicy: 'strict' });
  const unknown = await runScript('true', { on: strict });
  assert.equal(unknown.result.exitStatus, 'EXCEPTION');
  assert.match(unknown.debug, /is not known and the host key policy is strict/);

  const right = await runScript('true', { on: strict, run: { hostPublicKey: `${sshd.hostKey} root@host` } });
  assert.equal(right.result.exitStatus, 0, right.all);
  assert.deepEqual(await store.get(knownHostsName(sshd.host, sshd.port)), []);

  const wrong = await runScript('true', { on: strict, run: { hostPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1JqPBomr7YYXhU0EX7nEhiKDTpz0jTc2vS0FTBhkkd' } });
  assert.equal(wrong.result.exitStatus, 'EXCEPTION');
  assert.match(wrong.debug, /this job pins SHA256:/);
});

test('bulkhead: 20 runs with a limit of 5 never run more than 5 at once; the rest queue in order', async () => {
  const limited = makeRunner({ maxConcurrentHosts: 5, maxQueued: 15 });
  const log = join(sshd.workDir, `concurrency-${randomInt(1e9)}.log`);
  // spread over both addresses sshd listens on: several hosts, each with its own pinned key
  const runs = Array.from({ length: 20 }, (_, i) =>
    runScript(`echo "+ ${i}" >> '${log}'; sleep 0.3; echo "- ${i}" >> '${log}'`, { on: limited, host: sshd.addresses[i % 2] }),
  );
  assert.deepEqual(limited.stats(), { active: 5, queued: 15 });
  // One more is refused at once with a clear error.
  await assert.rejects(runScript('true', { on: limited }), (e: unknown) => e instanceof SshQueueFullError && /queue is full/.test(e.message));
  const results = await Promise.all(runs);
  for (const r of results) assert.equal(r.result.exitStatus, 0, r.all);
  assert.deepEqual(limited.stats(), { active: 0, queued: 0 });
  let now = 0;
  let max = 0;
  const entries = (await readFile(log, 'utf8')).trim().split('\n');
  assert.equal(entries.length, 40);
  for (const entry of entries) {
    now += entry.startsWith('+') ? 1 : -1;
    max = Math.max(max, now);
  }
  assert.ok(max <= 5, `at most 5 scripts at once on the host, saw ${max}`);
  await execFileP('rm', ['-f', log]);
});

test('a run cancelled while queued ends without connecting', async () => {
  const one = makeRunner({ maxConcurrentHosts: 1, maxQueued: 5 });
  const first = runScript('sleep 0.5', { on: one });
  const controller = new AbortController();
  const queued = runScript('echo never', { on: one, run: { signal: controller.signal } });
  assert.deepEqual(one.stats(), { active: 1, queued: 1 });
  controller.abort(new Error('user cancelled'));
  const q = await queued;
  assert.equal(q.result.exitStatus, 'EXCEPTION');
  assert.match(q.debug, /cancelled while waiting for a free connection slot \(user cancelled\)/);
  assert.ok(!q.stdout.includes('never'));
  assert.equal((await first).result.exitStatus, 0);
});

test('hostile script content arrives byte for byte (CR stripped)', async () => {
  const script = "#!/bin/sh\r\ncat \"$0\"\nexit 0\n# ; rm -rf / $(touch /tmp/rx-pwned) `id` ' \" \\ -rf\n";
  const o = await runScript(script);
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.equal(o.stdout, script.replaceAll('\r', ''));
  assert.ok(!existsSync('/tmp/rx-pwned'));
});

test('a hostile working dir is used literally as a directory name', async () => {
  const base = join(sshd.workDir, "a b;$(touch rx-pwned)'`-rf");
  const o = await runScript('pwd; dirname "$0"', { run: { remoteWorkingDir: base, cleanup: false } });
  assert.equal(o.result.exitStatus, 0, o.all);
  assert.match(o.stdout, new RegExp(`${base.replace(/[$()`'.;]/g, '\\$&')}/foreman-ssh-cmd-${o.result.runnerId}\\n$`));
  assert.ok(existsSync(join(base, `foreman-ssh-cmd-${o.result.runnerId}`, 'script')));
  assert.ok(!existsSync(join(sshd.workDir, 'rx-pwned')) && !existsSync(`/home/${sshd.users.nopw.name}/rx-pwned`));
  await execFileP('rm', ['-rf', base]);
});

test('invalid user names and working dirs are rejected before anything runs', async () => {
  await assert.rejects(runScript('true', { run: { effectiveUser: 'root;id' } }), (e: unknown) => e instanceof SshInputError && /^effective_user: .*not a valid user name/.test(e.message));
  await assert.rejects(runScript('true', { user: '-oProxyCommand=id' }), (e: unknown) => e instanceof SshInputError && /^ssh_user: /.test(e.message));
  await assert.rejects(runScript('true', { run: { remoteWorkingDir: 'relative/dir' } }), (e: unknown) => e instanceof SshInputError && /^remote_working_dir: .*not an absolute path/.test(e.message));
  await assert.rejects(
    runScript('true', { run: { effectiveUser: 'root', effectiveUserMethod: 'pbrun' as 'sudo' } }),
    (e: unknown) => e instanceof SshInputError && /effective_user_method: 'pbrun' not supported/.test(e.message),
  );
});
