import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RCODE, TYPE } from '../../../../lib/dns/message.ts';
import { rdataFromText } from '../../../../lib/dns/rdata.ts';
import { nsupdateOutcome, nsupdateScript } from './nsupdate-gss.ts';

test('the script names server and zone, carries the prerequisites, absolute names, and ends with send', () => {
  const script = nsupdateScript(
    { host: '192.0.2.53', port: 5353 },
    'example.test',
    [
      { kind: 'rrsetAbsent', name: 'web.example.test', type: TYPE.A },
      { kind: 'rrsetAbsent', name: 'web.example.test', type: TYPE.CNAME },
    ],
    [{ kind: 'add', name: 'web.example.test', type: TYPE.A, ttl: 300, data: rdataFromText(TYPE.A, '192.0.2.10') }],
  );
  assert.equal(
    script,
    [
      'server 192.0.2.53 5353',
      'zone example.test.',
      'prereq nxrrset web.example.test. A',
      'prereq nxrrset web.example.test. CNAME',
      'update add web.example.test. 300 IN A 192.0.2.10',
      'send',
      '',
    ].join('\n'),
  );
  const del = nsupdateScript({ host: 'ns1', port: 53 }, 'example.test.', [{ kind: 'rrsetExists', name: 'x.example.test', type: TYPE.PTR }], [{ kind: 'deleteRRset', name: 'x.example.test', type: TYPE.PTR }]);
  assert.match(del, /prereq yxrrset x\.example\.test\. PTR\nupdate delete x\.example\.test\. IN PTR\nsend/);
});

test('a name that would smuggle a command into the script is refused', () => {
  assert.throws(
    () => nsupdateScript({ host: 'ns1', port: 53 }, 'example.test', [], [{ kind: 'deleteRRset', name: 'x.example.test\nupdate delete example.test', type: TYPE.A }]),
    /characters nsupdate cannot take/,
  );
});

test("nsupdate's verdicts (BIND 9.18 wording)", () => {
  assert.deepEqual(nsupdateOutcome(0, '', false), { kind: 'ok' });
  assert.deepEqual(nsupdateOutcome(2, 'update failed: YXRRSET\n', false), { kind: 'rcode', rcode: RCODE.YXRRSET, name: 'YXRRSET' });
  assert.deepEqual(nsupdateOutcome(2, 'update failed: REFUSED\n', false), { kind: 'rcode', rcode: RCODE.REFUSED, name: 'REFUSED' });
  assert.equal(
    nsupdateOutcome(2, 'tkey query failed: GSSAPI error: Major = Unspecified GSS failure.  Minor code may provide more information, Minor = Ticket expired.\n', false).kind,
    'ticket',
  );
  assert.equal(nsupdateOutcome(1, 'dns_tkey_gssnegotiate: TKEY is unacceptable\n', false).kind, 'ticket');
  assert.equal(
    nsupdateOutcome(2, 'tkey query failed: GSSAPI error: Major = No credentials were supplied, or the credentials were unavailable or inaccessible, Minor = SPNEGO cannot find mechanisms to negotiate.\n', false).kind,
    'ticket',
  );
  assert.equal(nsupdateOutcome(2, 'tkey query failed: GSSAPI error: Major = Unspecified GSS failure, Minor = Server not found in Kerberos database\n', false).kind, 'gss');
  assert.equal(nsupdateOutcome(2, '; Communication with 127.0.0.1#53 failed: connection refused\ncould not reach any name server\n', false).kind, 'unreachable');
  assert.deepEqual(nsupdateOutcome(null, '', true), { kind: 'timeout' });
  assert.deepEqual(nsupdateOutcome(1, 'syntax error\n', false), { kind: 'other', detail: 'syntax error' });
});
