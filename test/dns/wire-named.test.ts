// The DNS library against a real BIND named: TSIG with every HMAC algorithm (signed replies
// verified), RFC 2136 prerequisites and deletes, TCP fallback on truncation, refusal of wrong
// keys, and the deadline when the server is down or silent.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { createNamed, REV6, ZONE, type Named } from './named.ts';
import { exchange, parseServerSpec, randomId } from '../../src/lib/dns/client.ts';
import { DnsTransportError, DnsTsigError } from '../../src/lib/dns/errors.ts';
import { parseKeyFile } from '../../src/lib/dns/keyfile.ts';
import { RCODE, TYPE } from '../../src/lib/dns/message.ts';
import { rdataFromText, rdataToText } from '../../src/lib/dns/rdata.ts';
import { TSIG_ALGORITHMS, type TsigKey } from '../../src/lib/dns/tsig.ts';
import { buildQuery } from '../../src/lib/dns/update.ts';
import { DnsUpdateRefused, DnsUpdater } from '../../src/lib/dns/updater.ts';

let named: Named;
const keyOf = async (file: string): Promise<TsigKey> => parseKeyFile(await readFile(file, 'utf8'), file);
const soon = (ms = 5000): number => Date.now() + ms;

function updater(key?: TsigKey, port = named.port): DnsUpdater {
  return new DnsUpdater({ server: { host: '127.0.0.1', port }, key, queryTimeoutsMs: [1000, 2000], updateTryMs: 1000 });
}

describe('dns library against a real named', { timeout: 120_000 }, () => {
  before(async () => {
    named = await createNamed();
    await named.start();
  });
  after(async () => {
    await named?.cleanup();
  });

  test('every TSIG algorithm: signed update accepted, reply signature verified, dig sees the record', async () => {
    for (const [i, alg] of TSIG_ALGORITHMS.entries()) {
      const u = updater(await keyOf(named.keyFiles[alg]));
      const name = `alg-${alg}.${ZONE}`;
      const zone = await u.findZone(name, soon());
      assert.equal(zone, ZONE);
      await u.update(zone, [], [{ kind: 'add', name, type: TYPE.A, ttl: 300, data: rdataFromText(TYPE.A, `192.0.2.${i + 1}`) }], soon());
      assert.deepEqual(await named.dig(name, 'A'), [`192.0.2.${i + 1}`]);
    }
  });

  test('signed request over TCP gets a verified signed reply', async () => {
    const key = await keyOf(named.keyFiles['hmac-sha512']);
    const r = await exchange(buildQuery(randomId(), ZONE, TYPE.SOA), {
      server: { host: '127.0.0.1', port: named.port },
      tryTimeoutsMs: [2000],
      tsig: key,
      tcp: true,
    });
    assert.equal(r.transport, 'tcp');
    assert.equal(r.signature, 'verified');
    assert.equal(r.response.answers[0].type, TYPE.SOA);
  });

  test('prerequisites: rrset-absent fails with YXRRSET, rrset-exists on a missing rrset fails with NXRRSET', async () => {
    const u = updater(await keyOf(named.keyFiles['hmac-sha256']));
    const name = `pre.${ZONE}`;
    const data = rdataFromText(TYPE.A, '192.0.2.50');
    await u.update(ZONE, [{ kind: 'rrsetAbsent', name, type: TYPE.A }], [{ kind: 'add', name, type: TYPE.A, ttl: 60, data }], soon());
    await assert.rejects(
      u.update(ZONE, [{ kind: 'rrsetAbsent', name, type: TYPE.A }], [{ kind: 'add', name, type: TYPE.A, ttl: 60, data }], soon()),
      (e: unknown) => e instanceof DnsUpdateRefused && e.rcode === RCODE.YXRRSET,
    );
    await assert.rejects(
      u.update(ZONE, [{ kind: 'rrsetExists', name, type: TYPE.AAAA }], [{ kind: 'deleteRRset', name, type: TYPE.AAAA }], soon()),
      (e: unknown) => e instanceof DnsUpdateRefused && e.rcode === RCODE.NXRRSET,
    );
    await u.update(
      ZONE,
      [{ kind: 'rrsetExistsWithValues', name, type: TYPE.A, data: [data] }],
      [{ kind: 'add', name, type: TYPE.A, ttl: 60, data: rdataFromText(TYPE.A, '192.0.2.51') }],
      soon(),
    );
    assert.deepEqual(await named.dig(name, 'A'), ['192.0.2.50', '192.0.2.51']);
    // class NONE: delete exactly one record; class ANY: delete the rest of the name
    await u.update(ZONE, [], [{ kind: 'deleteRecord', name, type: TYPE.A, data }], soon());
    assert.deepEqual(await named.dig(name, 'A'), ['192.0.2.51']);
    await u.update(ZONE, [{ kind: 'nameInUse', name }], [{ kind: 'deleteName', name }], soon());
    assert.deepEqual(await named.dig(name, 'A'), []);
    await assert.rejects(
      u.update(ZONE, [{ kind: 'nameInUse', name }], [{ kind: 'deleteName', name }], soon()),
      (e: unknown) => e instanceof DnsUpdateRefused && e.rcode === RCODE.NXDOMAIN,
    );
  });

  test('an IPv6 server address works the same ([::1]:port)', async () => {
    const u = new DnsUpdater({
      server: parseServerSpec(`[::1]:${named.port}`),
      key: await keyOf(named.keyFiles['hmac-sha384']),
      queryTimeoutsMs: [1000],
      updateTryMs: 1000,
    });
    const name = `v6.${ZONE}`;
    await u.update(await u.findZone(name, soon()), [], [{ kind: 'add', name, type: TYPE.AAAA, ttl: 60, data: rdataFromText(TYPE.AAAA, '2001:db8::99') }], soon());
    assert.deepEqual(await named.dig(name, 'AAAA'), ['2001:db8::99']);
  });

  test('a host name as server (localhost:port) is resolved and used', async () => {
    const u = new DnsUpdater({ server: parseServerSpec(`localhost:${named.port}`), queryTimeoutsMs: [1000], updateTryMs: 1000 });
    assert.equal(await u.findZone(`any.${ZONE}`, soon()), ZONE);
    assert.equal((await u.lookup(`ns1.${ZONE}`, TYPE.A, soon())).records.length, 1);
  });

  test('IPv6 reverse zone is found from a nibble name', async () => {
    const u = updater(await keyOf(named.keyFiles['hmac-sha1']));
    const ptr = `1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.${REV6}`;
    assert.equal(await u.findZone(ptr, soon()), REV6);
  });

  test('a truncated UDP answer is retried over TCP and returns every record', async () => {
    const u = updater(await keyOf(named.keyFiles['hmac-sha256']));
    const name = `big.${ZONE}`;
    const adds = Array.from({ length: 60 }, (_, i) => ({
      kind: 'add' as const,
      name,
      type: TYPE.A,
      ttl: 60,
      data: rdataFromText(TYPE.A, `192.0.2.${i + 1}`),
    }));
    await u.update(ZONE, [], adds, soon());
    const r = await exchange(buildQuery(randomId(), name, TYPE.A), { server: { host: '127.0.0.1', port: named.port }, tryTimeoutsMs: [2000] });
    assert.equal(r.transport, 'tcp');
    assert.equal(r.response.answers.length, 60);
    assert.equal(rdataToText(TYPE.A, r.response.answers[0].data).startsWith('192.0.2.'), true);
  });

  test('updates signed with a wrong secret or an unknown key are refused with a clear TSIG error', async () => {
    const bad = updater(await keyOf(named.wrongSecretKeyFile));
    const data = rdataFromText(TYPE.A, '192.0.2.99');
    await assert.rejects(
      bad.update(ZONE, [], [{ kind: 'add', name: `bad.${ZONE}`, type: TYPE.A, ttl: 60, data }], soon()),
      (e: unknown) => e instanceof DnsTsigError && /rejected TSIG key 'foreman-hmac-sha256'.*BADSIG.*secret does not match/.test(e.message),
    );
    const unknown = updater(await keyOf(named.unknownKeyFile));
    await assert.rejects(
      unknown.update(ZONE, [], [{ kind: 'add', name: `bad.${ZONE}`, type: TYPE.A, ttl: 60, data }], soon()),
      (e: unknown) => e instanceof DnsTsigError && /BADKEY/.test(e.message),
    );
    const unsigned = updater(undefined);
    await assert.rejects(
      unsigned.update(ZONE, [], [{ kind: 'add', name: `bad.${ZONE}`, type: TYPE.A, ttl: 60, data }], soon()),
      (e: unknown) => e instanceof DnsUpdateRefused && /REFUSED.*set dns_key/.test(e.message),
    );
    assert.deepEqual(await named.dig(`bad.${ZONE}`, 'A'), []);
  });

  test('server down: a clear error at once; server back: the next update works', async () => {
    const u = updater(await keyOf(named.keyFiles['hmac-sha256']));
    await named.stop();
    try {
      await assert.rejects(u.findZone(`down.${ZONE}`, soon(10_000)), (e: unknown) => {
        return e instanceof DnsTransportError && /127\.0\.0\.1:\d+ unreachable: connection refused/.test(e.message);
      });
    } finally {
      await named.start();
    }
    await u.update(ZONE, [], [{ kind: 'add', name: `back.${ZONE}`, type: TYPE.A, ttl: 60, data: rdataFromText(TYPE.A, '192.0.2.77') }], soon());
    assert.deepEqual(await named.dig(`back.${ZONE}`, 'A'), ['192.0.2.77']);
  });

  test('a silent server (stand-in: a UDP socket that never answers) gives a timeout error at the deadline', async () => {
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    let received = 0;
    sink.on('message', () => received++);
    try {
      const port = sink.address().port;
      const u = new DnsUpdater({ server: { host: '127.0.0.1', port }, queryTimeoutsMs: [200, 300], updateTryMs: 200 });
      await assert.rejects(u.lookup(`x.${ZONE}`, TYPE.A, soon(10_000)), /no reply from DNS server 127\.0\.0\.1:\d+ after 2 tries/);
      assert.equal(received, 2);
      await assert.rejects(
        u.update(ZONE, [], [{ kind: 'deleteRRset', name: `x.${ZONE}`, type: TYPE.A }], Date.now() + 700),
        (e: unknown) => e instanceof DnsTransportError && e.code === 'dns.timeout',
      );
    } finally {
      sink.close();
    }
  });
});
