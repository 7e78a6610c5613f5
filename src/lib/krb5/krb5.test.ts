// The credential cache reader on caches built here byte by byte, and KerberosCredentials driving a
// stand-in `kinit` (a shell script on PATH that writes such a cache and logs its calls), so the
// one-kinit-at-a-time, renewal and refusal rules are checked without a KDC.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../core/logging-types.ts';
import { CredentialCacheFormatError, parseCredentialCache, principalText, ticketGrantingTicket, type Principal } from './ccache.ts';
import { describeKinitFailure, KerberosCredentials, KerberosError, renewalLeadMs } from './credentials.ts';

// A credential cache written the way MIT's FILE cache does (format version 4 or 3).
function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}
function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}
function counted(bytes: Uint8Array | string): number[] {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return [...u32(b.length), ...b];
}
function principal(p: Principal): number[] {
  return [...u32(p.nameType), ...u32(p.components.length), ...counted(p.realm), ...p.components.flatMap((c) => counted(c))];
}
function credential(version: 3 | 4, client: Principal, server: Principal, times: [number, number, number, number]): number[] {
  return [
    ...principal(client),
    ...principal(server),
    ...u16(18),
    ...(version === 3 ? u16(18) : []),
    ...counted(new Uint8Array(32)),
    ...times.flatMap(u32),
    0,
    ...u32(0x40e10000),
    ...u32(1),
    ...u16(2),
    ...counted(new Uint8Array([127, 0, 0, 1])),
    ...u32(0),
    ...counted(new Uint8Array(300)),
    ...counted(new Uint8Array(0)),
  ];
}

const me: Principal = { nameType: 1, realm: 'EXAMPLE.TEST', components: ['foreman-proxy', 'proxy.example.test'] };
const tgt: Principal = { nameType: 2, realm: 'EXAMPLE.TEST', components: ['krbtgt', 'EXAMPLE.TEST'] };
const dns: Principal = { nameType: 3, realm: 'EXAMPLE.TEST', components: ['DNS', 'ns1.example.test'] };
const conf: Principal = { nameType: 0, realm: 'X-CACHECONF:', components: ['krb5_ccache_conf_data', 'fast_avail', 'krbtgt/EXAMPLE.TEST@EXAMPLE.TEST'] };

function cache(version: 3 | 4, start = 1_800_000_000, end = 1_800_036_000): Uint8Array {
  return new Uint8Array([
    5,
    version,
    ...(version === 4 ? [...u16(12), ...u16(1), ...u16(8), ...u32(0), ...u32(0)] : []),
    ...principal(me),
    ...credential(version, me, conf, [0, 0, 0, 0]),
    ...credential(version, me, tgt, [start, start, end, 0]),
    ...credential(version, me, dns, [start, start + 100, end, 0]),
  ]);
}

test('a version 4 cache: default principal, every entry, and the TGT validity', () => {
  const c = parseCredentialCache(cache(4));
  assert.equal(c.version, 4);
  assert.equal(principalText(c.defaultPrincipal), 'foreman-proxy/proxy.example.test@EXAMPLE.TEST');
  assert.deepEqual(
    c.credentials.map((x) => principalText(x.server)),
    ['krb5_ccache_conf_data/fast_avail/krbtgt/EXAMPLE.TEST@EXAMPLE.TEST@X-CACHECONF:', 'krbtgt/EXAMPLE.TEST@EXAMPLE.TEST', 'DNS/ns1.example.test@EXAMPLE.TEST'],
  );
  assert.deepEqual(ticketGrantingTicket(c), { start: 1_800_000_000_000, end: 1_800_036_000_000 });
});

test('a version 3 cache (enctype written twice) reads the same', () => {
  assert.deepEqual(ticketGrantingTicket(parseCredentialCache(cache(3))), { start: 1_800_000_000_000, end: 1_800_036_000_000 });
});

test('a cache without a TGT, a truncated one and another format', () => {
  const noTgt = new Uint8Array([5, 4, ...u16(0), ...principal(me), ...credential(4, me, dns, [1, 1, 2, 0])]);
  assert.equal(ticketGrantingTicket(parseCredentialCache(noTgt)), undefined);
  const full = cache(4);
  assert.throws(() => parseCredentialCache(full.subarray(0, full.length - 7)), CredentialCacheFormatError);
  assert.throws(() => parseCredentialCache(new Uint8Array([5, 2, 0, 0])), /unsupported file format 0x502/);
  assert.throws(() => parseCredentialCache(Buffer.from('not a cache')), CredentialCacheFormatError);
});

test('renewal lead: a quarter of the lifetime, at most 5 minutes', () => {
  assert.equal(renewalLeadMs(10 * 3600_000), 5 * 60_000);
  assert.equal(renewalLeadMs(8_000), 2_000);
  assert.equal(renewalLeadMs(-5), 0);
});

test("kinit's MIT messages are told apart and name the setting", () => {
  const names = { keytab: '/k.keytab', principal: 'p/h@R', keytabSetting: 'dns_tsig_keytab', principalSetting: 'dns_tsig_principal' };
  const cases: [string, string, RegExp][] = [
    ["kinit: Key table file '/k.keytab' not found while getting initial credentials", 'keytab', /keytab \/k\.keytab \(dns_tsig_keytab\) cannot be read/],
    ['kinit: Unsupported key table format version number while getting initial credentials', 'keytab', /cannot be read/],
    ['kinit: Keytab contains no suitable keys for p/h@R while getting initial credentials', 'keytab', /holds no key for p\/h@R \(dns_tsig_principal\)/],
    ["kinit: Client 'p/h@R' not found in Kerberos database while getting initial credentials", 'principal', /KDC does not know the principal p\/h@R/],
    ["kinit: Cannot contact any KDC for realm 'R' while getting initial credentials", 'kdc', /KDC of the realm cannot be reached/],
    ['kinit: Preauthentication failed while getting initial credentials', 'keytab', /rejected the key/],
    ['kinit: Clock skew too great while getting initial credentials', 'other', /clocks/],
    ['kinit: something new', 'other', /kinit failed: something new/],
  ];
  for (const [stderr, reason, text] of cases) {
    const d = describeKinitFailure(stderr, names);
    assert.equal(d.reason, reason, stderr);
    assert.match(d.text, text);
  }
});

const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  withRequest: () => quiet,
  child: () => quiet,
};

describe('KerberosCredentials with a stand-in kinit', () => {
  let dir: string;
  const calls = async (): Promise<string[]> => (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krb5-unit-'));
    // Logs its arguments, takes 200 ms like a KDC round trip, then writes the prepared cache to
    // the -c path; fails like MIT kinit when the "kdc-down" file exists.
    await writeFile(
      join(dir, 'kinit'),
      `#!/bin/sh
echo "$*" >> "${dir}/calls"
sleep 0.2
if [ -e "${dir}/kdc-down" ]; then echo "kinit: Cannot contact any KDC for realm 'EXAMPLE.TEST' while getting initial credentials" >&2; exit 1; fi
while [ $# -gt 0 ]; do if [ "$1" = "-c" ]; then cp "${dir}/prepared" "\${2#FILE:}"; fi; shift; done
`,
    );
    await chmod(join(dir, 'kinit'), 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const prepare = async (lifetimeS: number): Promise<void> => {
    const now = Math.floor(Date.now() / 1000);
    await writeFile(join(dir, 'prepared'), cache(4, now, now + lifetimeS));
    await writeFile(join(dir, 'calls'), '');
  };
  const credentials = (refusalGraceMs?: number): Promise<KerberosCredentials> =>
    KerberosCredentials.create({
      keytab: '/etc/proxy.keytab',
      principal: 'foreman-proxy/proxy.example.test@EXAMPLE.TEST',
      env: { PATH: `${dir}:/usr/bin:/bin`, KRB5_CONFIG: '/etc/test-krb5.conf' },
      log: quiet,
      refusalGraceMs,
    });

  test('concurrent callers share one kinit; the ticket is handed out in KRB5CCNAME with the configured env', async () => {
    await prepare(3600);
    const creds = await credentials();
    try {
      const tickets = await Promise.all(Array.from({ length: 10 }, () => creds.acquire(Date.now() + 5000)));
      assert.equal((await calls()).length, 1);
      assert.equal((await calls())[0], `-k -t /etc/proxy.keytab -c FILE:${tickets[0].env.KRB5CCNAME.slice('FILE:'.length)}.1 foreman-proxy/proxy.example.test@EXAMPLE.TEST`);
      assert.ok(tickets.every((t) => t.generation === 1));
      assert.equal(tickets[0].env.KRB5_CONFIG, '/etc/test-krb5.conf');
      assert.match(tickets[0].env.KRB5CCNAME, /^FILE:.*\/ccache$/);
      assert.ok(Math.abs(tickets[0].expiresAt - (Date.now() + 3600_000)) < 5000);
      // the cache file is the one kinit wrote, in a private directory
      const ccache = tickets[0].env.KRB5CCNAME.slice('FILE:'.length);
      assert.ok(ticketGrantingTicket(parseCredentialCache(await readFile(ccache))));
      // a valid ticket: no further kinit
      await creds.acquire(Date.now() + 5000);
      assert.equal((await calls()).length, 1);
    } finally {
      await creds.close();
    }
  });

  test('a refused ticket: one kinit for all who report it, none for a ticket under 10 s old', async () => {
    await prepare(3600);
    const creds = await credentials();
    try {
      const t = await creds.acquire(Date.now() + 5000);
      // brand new: a refusal is not the ticket's fault
      const same = await creds.invalidate(t.generation, Date.now() + 5000);
      assert.equal(same.generation, t.generation);
      assert.equal((await calls()).length, 1);
    } finally {
      await creds.close();
    }
    await prepare(3600);
    const older = await credentials(0);
    try {
      const t = await older.acquire(Date.now() + 5000);
      const renewed = await Promise.all(Array.from({ length: 5 }, () => older.invalidate(t.generation, Date.now() + 5000)));
      assert.ok(renewed.every((r) => r.generation === t.generation + 1));
      assert.equal((await calls()).length, 2, 'one kinit, then one shared renewal');
      // a caller reporting the old generation after the renewal gets the new ticket, no kinit
      assert.equal((await older.invalidate(t.generation, Date.now() + 5000)).generation, t.generation + 1);
      assert.equal((await calls()).length, 2);
    } finally {
      await older.close();
    }
  });

  test('a ticket near its end is renewed by the timer before it expires', async () => {
    // 2 s lifetime: renewal lead 0.5 s, so the timer renews at about 1.5 s.
    await prepare(2);
    const creds = await credentials();
    try {
      const first = await creds.acquire(Date.now() + 5000);
      await new Promise((r) => setTimeout(r, 1900));
      const later = await creds.acquire(Date.now() + 5000);
      assert.ok(later.generation > first.generation, 'renewed by the timer');
      assert.ok((await calls()).length >= 2);
    } finally {
      await creds.close();
    }
  });

  test('KDC down: a clear KerberosError; close removes the private directory', async () => {
    await prepare(3600);
    await writeFile(join(dir, 'kdc-down'), '');
    const creds = await credentials();
    try {
      await assert.rejects(creds.acquire(Date.now() + 5000), (e: unknown) => e instanceof KerberosError && e.reason === 'kdc' && /KDC of the realm cannot be reached/.test(e.message));
    } finally {
      await rm(join(dir, 'kdc-down'));
    }
    const t = await creds.acquire(Date.now() + 5000);
    const privateDir = t.env.KRB5CCNAME.slice('FILE:'.length).replace(/\/ccache$/, '');
    assert.deepEqual(await readdir(privateDir), ['ccache']);
    await creds.close();
    await assert.rejects(readdir(privateDir), /ENOENT/);
  });

  test('a principal that would read as an option is refused before any kinit', async () => {
    await assert.rejects(
      KerberosCredentials.create({ keytab: '/k', principal: '-X foo', principalSetting: 'dns_tsig_principal', log: quiet }),
      /dns_tsig_principal: '-X foo' is not a Kerberos principal/,
    );
  });
});
