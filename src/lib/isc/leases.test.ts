import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { appendFile, rename, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeasesFollower, LeasesParser, type LeaseEvent } from './leases.ts';
import { parseStatements } from './syntax.ts';
import { leaseDecl } from './decls.ts';

const LEASES = `# comment
authoring-byte-order little-endian;
server-duid "\\000\\001\\000\\001,\\357";

lease 192.168.122.150 {
  starts 4 2024/01/04 10:00:00;
  ends 5 2199/01/05 10:00:00;
  tstp 5 2199/01/05 10:00:00;
  cltt 4 2024/01/04 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet AA:BB:CC:DD:EE:FF;
  uid "\\001\\252\\273";
  set vendor-class-identifier = "PXEClient";
  client-hostname "foo";
}
host h1.example.test {
  dynamic;
  hardware ethernet 52:54:00:aa:bb:01;
  fixed-address 192.168.122.10;
        supersede server.filename = "pxelinux.0";
        supersede server.next-server = c0:a8:7a:01;
        supersede host-name = "h1";
}
lease 192.168.122.151 {
  starts epoch 1704362400; # Thu Jan 04 10:00:00 2024
  ends never;
  binding state free;
}
host h1.example.test {
  dynamic;
  deleted;
}
`;

function summary(events: LeaseEvent[]): unknown[] {
  return events.map((e) => (e.kind === 'lease' ? ['lease', e.lease.ip, e.lease.state] : ['host', e.host.name, e.host.deleted]));
}

test('leases: leases, hosts and deletions with Foreman attribute names', () => {
  const events = new LeasesParser().push(LEASES);
  assert.deepEqual(summary(events), [
    ['lease', '192.168.122.150', 'active'],
    ['host', 'h1.example.test', false],
    ['lease', '192.168.122.151', 'free'],
    ['host', 'h1.example.test', true],
  ]);
  const l = events[0].kind === 'lease' ? events[0].lease : undefined;
  assert.ok(l);
  assert.equal(l.mac, 'aa:bb:cc:dd:ee:ff');
  assert.equal(l.starts, '2024-01-04 10:00:00 UTC');
  assert.equal(l.ends, '2199-01-05 10:00:00 UTC');
  assert.equal(l.options.next_state, 'free');
  assert.equal(l.options.uid, '"\\001\\252\\273"');
  assert.equal(l.options.client_hostname, '"foo"');
  assert.equal(l.options.hardware_type, 'ethernet');
  assert.equal(l.options.tstp, '2199-01-05 10:00:00 UTC');
  const h = events[1].kind === 'host' ? events[1].host : undefined;
  assert.ok(h);
  assert.deepEqual(
    { ip: h.ip, mac: h.mac, dynamic: h.dynamic, options: h.options },
    { ip: '192.168.122.10', mac: '52:54:00:aa:bb:01', dynamic: true, options: { hardware_type: 'ethernet', filename: 'pxelinux.0', nextServer: '192.168.122.1', hostname: 'h1' } },
  );
  const free = events[2].kind === 'lease' ? events[2].lease : undefined;
  assert.equal(free?.starts, '2024-01-04 10:00:00 UTC');
  assert.equal(free?.ends, '2038-01-19 03:14:07 UTC');
});

test('leases: byte-by-byte feeding gives the same declarations', () => {
  const whole = summary(new LeasesParser().push(LEASES));
  const p = new LeasesParser();
  const parts: LeaseEvent[] = [];
  const bytes = Buffer.from(LEASES);
  for (let i = 0; i < bytes.length; i++) parts.push(...p.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(summary(parts), whole);
  assert.equal(p.pendingLength, 1); // the final newline
});

test('leases: a broken statement is skipped, its neighbours survive', () => {
  const p = new LeasesParser('x');
  const events = p.push('lease 10.0.0.1 { hardware ethernet 1:2:3:4:5:6; }\n} junk;\nlease 10.0.0.2 { binding state active; }\n');
  assert.deepEqual(summary(events), [['lease', '10.0.0.1', undefined], ['lease', '10.0.0.2', 'active']]);
  assert.equal(p.errors.length, 1);
});

test('property: any split of valid input yields the same declarations', () => {
  const whole = JSON.stringify(new LeasesParser().push(LEASES));
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: LEASES.length }), { maxLength: 20 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const p = new LeasesParser();
      const out: LeaseEvent[] = [];
      let prev = 0;
      for (const c of [...points, LEASES.length]) {
        out.push(...p.push(LEASES.slice(prev, c)));
        prev = c;
      }
      assert.equal(JSON.stringify(out), whole);
    }),
    { numRuns: 500 },
  );
});

test('property: random and truncated input never throws', () => {
  fc.assert(
    fc.property(fc.nat({ max: LEASES.length }), fc.string({ maxLength: 100 }), (cut, noise) => {
      const p = new LeasesParser();
      p.push(LEASES.slice(0, cut));
      p.push(noise);
      p.push(LEASES);
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      new LeasesParser().push(Buffer.from(bytes));
    }),
    { numRuns: 1000 },
  );
});

test('follower: reads only appended bytes, reloads on replace', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spisc-follow-'));
  const path = join(dir, 'dhcpd.leases');
  try {
    await writeFile(path, 'lease 10.0.0.1 { binding state active; hardware ethernet 00:00:00:00:00:01; }\n');
    let generation: string[] = [];
    let current: string[] = [];
    let loads = 0;
    const f = new LeasesFollower({
      path,
      pollMs: 0,
      onLoadStart: () => {
        generation = [];
        loads++;
      },
      onEvents: (ev) => {
        for (const e of ev) if (e.kind === 'lease') generation.push(e.lease.ip);
      },
      onLoadEnd: () => {
        current = generation;
      },
    });
    await f.start();
    assert.deepEqual(current, ['10.0.0.1']);
    const before = f.stats.bytesRead;
    const appended = 'lease 10.0.0.2 { binding state active; hardware ethernet 00:00:00:00:00:02; }\n';
    // A statement written in two parts is applied once complete.
    await appendFile(path, appended.slice(0, 20));
    await f.sync();
    assert.deepEqual(current, ['10.0.0.1']);
    await appendFile(path, appended.slice(20));
    await f.sync();
    assert.deepEqual(current, ['10.0.0.1', '10.0.0.2']);
    assert.equal(f.stats.bytesRead - before, appended.length);
    assert.equal(loads, 1);
    // dhcpd's rewrite: a new file renamed over the old one.
    await writeFile(join(dir, 'dhcpd.leases.new'), 'lease 10.0.0.3 { binding state active; hardware ethernet 00:00:00:00:00:03; }\n');
    await rename(join(dir, 'dhcpd.leases.new'), path);
    await f.sync();
    assert.equal(loads, 2);
    assert.deepEqual(current, ['10.0.0.3']);
    f.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('property: the lease fast path agrees with the generic parser', () => {
  const word = fc.stringMatching(/^[a-z0-9:.\/-]{1,12}$/);
  const quoted = fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s).replaceAll('\\u', 'u'));
  const line = fc.oneof(
    fc.constant('binding state active;'),
    fc.constant('next binding state free;'),
    fc.constant('starts 4 2024/01/04 10:00:00;'),
    fc.constant('ends never;'),
    fc.constant('ends epoch 1704362400;'),
    fc.constant('hardware ethernet 52:54:00:AA:bb:01;'),
    quoted.map((q) => `uid ${q};`),
    quoted.map((q) => `client-hostname ${q};`),
    fc.tuple(word, word).map(([a, b]) => `option ${a} ${b}, ${b};`),
    fc.tuple(word, quoted).map(([a, q]) => `set ${a} = ${q};`),
    fc.constant('# a comment ; } {\n'),
  );
  const lease = fc.tuple(fc.constantFrom('10.0.0.1', '192.168.122.7', '::1', 'bogus'), fc.array(line, { maxLength: 8 })).map(
    ([ip, lines]) => `lease ${ip} {\n  ${lines.join('\n  ')}\n}\n`,
  );
  fc.assert(
    fc.property(fc.array(lease, { maxLength: 5 }), (leases) => {
      const text = leases.join('');
      const fast = new LeasesParser().push(text);
      const generic: LeaseEvent[] = [];
      for (const s of parseStatements(text)) {
        const l = s.block ? leaseDecl(s) : undefined;
        if (l) generic.push({ kind: 'lease', lease: l });
      }
      assert.deepEqual(fast, generic);
    }),
    { numRuns: 500 },
  );
});

// ---- stanzas written from values dhcpd does not escape ---------------------------------------
// dhcpd writes a host's name unquoted and its quoted statement values without escaping, so values
// set through OMAPI (by this proxy before it refused them, or by any other OMAPI client) can leave
// stanzas with stray quotes, braces or a backslash before the closing quote. Text below is what
// dhcpd 4.4.3 wrote for such hosts.

const HOSTILE_LEASES = `# This lease file was written by isc-dhcp-4.4.3-P1

authoring-byte-order little-endian;

server-duid "\\000\\001\\000\\0012\\2446\\373b\\325\\226\\235\`d";

host before.example {
  dynamic;
  hardware ethernet 52:54:00:00:01:01;
  fixed-address 192.168.122.10;
        supersede host-name = "before.example";
}
host inj {
  dynamic;
  hardware ethernet 52:54:00:00:01:02;
  fixed-address 192.168.122.11;
        supersede host-name = 
                "x"; option routers 127.0.0.9; next-server 127.0.0.9; "y";
}
host bs {
  dynamic;
  hardware ethernet 52:54:00:00:01:03;
  fixed-address 192.168.122.12;
        supersede server.filename = "f\\";
        supersede host-name = "abc\\";
}
host a{b {
  dynamic;
  hardware ethernet 52:54:00:00:01:04;
  fixed-address 192.168.122.13;
        supersede host-name = "brace";
}
host sp ace {
  dynamic;
  hardware ethernet 52:54:00:00:01:05;
  fixed-address 192.168.122.14;
        supersede host-name = "space";
}
host hash#x {
  dynamic;
  hardware ethernet 52:54:00:00:01:06;
  fixed-address 192.168.122.15;
        supersede host-name = "hash";
}
lease 192.168.122.150 {
  starts 4 2024/01/04 10:00:00;
  ends never;
  binding state active;
  hardware ethernet 52:54:00:00:01:50;
  set vendor = "a\\";
}
lease 192.168.122.151 {
  starts 4 2024/01/04 10:00:00;
  ends never;
  binding state active;
  hardware ethernet 52:54:00:00:01:51;
}
host after.example {
  dynamic;
  hardware ethernet 52:54:00:00:01:08;
  fixed-address 192.168.122.17;
        supersede host-name = "after.example";
}
`;

function hostsAndLeases(events: LeaseEvent[]): { hosts: Map<string, [string | undefined, string | undefined]>; leases: Map<string, string | undefined> } {
  const hosts = new Map<string, [string | undefined, string | undefined]>();
  const leases = new Map<string, string | undefined>();
  for (const e of events) {
    if (e.kind === 'lease') leases.set(e.lease.ip, e.lease.mac);
    else if (e.host.deleted) hosts.delete(e.host.name);
    else hosts.set(e.host.name, [e.host.ip, e.host.mac]);
  }
  return { hosts, leases };
}

test('leases: stanzas with unescaped quotes, braces or a trailing backslash do not stop the reader', () => {
  const whole = hostsAndLeases(new LeasesParser().push(HOSTILE_LEASES));
  assert.deepEqual(whole.hosts.get('before.example'), ['192.168.122.10', '52:54:00:00:01:01']);
  assert.deepEqual(whole.hosts.get('after.example'), ['192.168.122.17', '52:54:00:00:01:08']);
  assert.equal(whole.leases.get('192.168.122.151'), '52:54:00:00:01:51');
  // Appended a piece at a time, as the follower reads a growing file: the same result.
  const p = new LeasesParser();
  const parts: LeaseEvent[] = [];
  const bytes = Buffer.from(HOSTILE_LEASES);
  for (let i = 0; i < bytes.length; i += 7) parts.push(...p.push(bytes.subarray(i, i + 7)));
  assert.deepEqual(hostsAndLeases(parts), whole);
});

test('property: no stanza dhcpd can write stops the reader from reading the next well-formed one', () => {
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 24 });
  // A raw value as dhcpd writes it: unescaped, often ending in a backslash.
  const raw = fc.oneof(printable, printable.map((s) => `${s}\\`), printable.map((s) => `${s}"; option routers 127.0.0.9; "`));
  const name = fc.oneof(
    fc.string({ unit: fc.constantFrom(...'abc.-_{}";#\\ '.split('')), minLength: 1, maxLength: 10 }),
    printable.filter((s) => s.length > 0),
  );
  const hostile = fc.oneof(
    fc.tuple(name, raw, raw, fc.boolean()).map(
      ([n, a, b, wrap]) =>
        `host ${n} {\n  dynamic;\n  hardware ethernet 52:54:00:ff:00:01;\n  fixed-address 10.9.0.1;\n` +
        `        supersede server.filename = "${a}";\n        supersede host-name = ${wrap ? '\n                ' : ''}"${b}";\n}\n`,
    ),
    name.map((n) => `host ${n} {\n  dynamic;\n  deleted;\n}\n`),
    raw.map((v) => `lease 10.9.1.1 {\n  starts 4 2024/01/04 10:00:00;\n  binding state active;\n  hardware ethernet 52:54:00:ff:01:01;\n  set x = "${v}";\n  client-hostname "${v}";\n}\n`),
    raw.map((v) => `lease 10.9.1.2 {\n  on expiry {\n    set y = "${v}";\n  }\n}\n`),
  );
  const stanzas = fc.array(fc.oneof(hostile, fc.constant('good')), { minLength: 1, maxLength: 8 });
  fc.assert(
    fc.property(stanzas, fc.array(fc.nat(), { maxLength: 6 }), (list, cuts) => {
      const expectedHosts = new Map<string, [string, string]>();
      const expectedLeases = new Map<string, string>();
      const text =
        'authoring-byte-order little-endian;\n\n' +
        list
          .map((s, i) => {
            if (s !== 'good') return s;
            const hex = i.toString(16).padStart(2, '0');
            expectedHosts.set(`good-${i}.example`, [`10.0.0.${i + 1}`, `52:54:00:00:aa:${hex}`]);
            expectedLeases.set(`10.0.1.${i + 1}`, `52:54:00:00:bb:${hex}`);
            return (
              `host good-${i}.example {\n  dynamic;\n  hardware ethernet 52:54:00:00:aa:${hex};\n  fixed-address 10.0.0.${i + 1};\n` +
              `        supersede host-name = "good-${i}.example";\n}\n` +
              `lease 10.0.1.${i + 1} {\n  starts 4 2024/01/04 10:00:00;\n  ends never;\n  binding state active;\n  hardware ethernet 52:54:00:00:bb:${hex};\n}\n`
            );
          })
          .join('') +
        // dhcpd keeps appending: the stanza after the last one ends any stanza still open.
        'lease 10.0.2.1 {\n  binding state active;\n}\n';
      const bytes = Buffer.from(text);
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const p = new LeasesParser();
      const events: LeaseEvent[] = [];
      let prev = 0;
      for (const c of [...points, bytes.length]) {
        events.push(...p.push(bytes.subarray(prev, c)));
        prev = c;
      }
      const seen = hostsAndLeases(events);
      for (const [n, v] of expectedHosts) assert.deepEqual(seen.hosts.get(n), v, n);
      for (const [ip, mac] of expectedLeases) assert.equal(seen.leases.get(ip), mac, ip);
    }),
    { numRuns: 1000 },
  );
});
