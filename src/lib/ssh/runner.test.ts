// Pure parts of the SSH runner; the runner itself is tested against a real sshd in test/ssh/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Redactor, splitChunks, validateSshRun, createSshRunner, SshInputError } from './runner.ts';
import { MemoryKnownHostsStore } from './known-hosts.ts';
import type { ScriptRun } from './types.ts';

test('the redactor removes a secret even when it is split across chunks', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.string(), fc.string(), fc.array(fc.nat(), { maxLength: 6 }), (secret, before, after, cuts) => {
      const text = `${before}${secret}${after}${secret}`;
      const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const r = new Redactor([secret]);
      let out = '';
      let last = 0;
      for (const p of points) {
        out += r.push(text.slice(last, p));
        last = p;
      }
      out += r.push(text.slice(last)) + r.flush();
      assert.ok(!out.includes(secret), JSON.stringify({ secret, out }));
      // nothing else is lost: with the secret replaced everywhere the text is what one push gives
      const whole = new Redactor([secret]);
      assert.equal(out, whole.push(text) + whole.flush());
    }),
    { numRuns: 500 },
  );
});

test('chunks stay within 64 KiB of UTF-8 and never split a surrogate pair', () => {
  const text = '😀'.repeat(40_000) + 'x'.repeat(10);
  const chunks = splitChunks(text);
  assert.ok(chunks.length > 1);
  assert.equal(chunks.join(''), text);
  for (const c of chunks) {
    assert.ok(Buffer.byteLength(c) <= 64 * 1024);
    assert.ok(!c.includes('\ufffd') && Buffer.from(c).toString() === c);
  }
});

const base: ScriptRun = {
  script: 'true',
  effectiveUserMethod: 'sudo',
  remoteWorkingDir: '/var/tmp',
  cleanup: true,
  signal: new AbortController().signal,
  onOutput: () => undefined,
};

test('validation names the field and the reason', () => {
  const target = { host: 'h.example.com', port: 22, user: 'root' };
  validateSshRun(target, base);
  const cases: [Parameters<typeof validateSshRun>, RegExp][] = [
    [[{ ...target, host: '-oProxyCommand=x' }, base], /^hostname: /],
    [[{ ...target, port: 0 }, base], /^ssh_port: /],
    [[{ ...target, user: 'a b' }, base], /^ssh_user: .*not a valid user name/],
    [[target, { ...base, effectiveUser: '$(id)' }], /^effective_user: /],
    [[target, { ...base, effectiveUserMethod: 'pbrun' as 'sudo' }], /^effective_user_method: 'pbrun' not supported/],
    [[target, { ...base, remoteWorkingDir: 'tmp' }], /^remote_working_dir: /],
    [[target, { ...base, hostPublicKey: 'garbage' }], /^host_public_key: /],
  ];
  for (const [args, message] of cases) assert.throws(() => validateSshRun(...args), (e: unknown) => e instanceof SshInputError && message.test(e.message), String(message));
});

test('runner options are checked', () => {
  const good = {
    maxConcurrentHosts: 1,
    maxQueued: 0,
    connectTimeoutMs: 1,
    keepaliveIntervalMs: 1,
    keepaliveCountMax: 1,
    killGraceMs: 0,
    knownHosts: new MemoryKnownHostsStore(),
    hostKeyPolicy: 'accept-new' as const,
  };
  assert.deepEqual(createSshRunner(good).stats(), { active: 0, queued: 0 });
  assert.throws(() => createSshRunner({ ...good, maxConcurrentHosts: 0 }), /maxConcurrentHosts/);
  assert.throws(() => createSshRunner({ ...good, hostKeyPolicy: 'yes' as 'strict' }), /hostKeyPolicy/);
});
