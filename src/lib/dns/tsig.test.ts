import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DnsParseError, DnsTsigError } from './errors.ts';
import { encodeMessage, decodeMessage, TYPE } from './message.ts';
import { parseKeyFile, parseBindKeys } from './keyfile.ts';
import { signRequest, verifyRequest, verifyResponse, TSIG_ALGORITHMS, type TsigKey } from './tsig.ts';
import { buildQuery } from './update.ts';
import { formatIPv6, parseIPv4, parseIPv6, reverseName } from './ip.ts';

const key = (algorithm: TsigKey['algorithm']): TsigKey => ({
  name: 'Foreman-Key',
  algorithm,
  secret: new Uint8Array(Buffer.from('c2VjcmV0LXNlY3JldC1zZWNyZXQ=', 'base64')),
});

test('a signed request verifies with the same key and algorithm, and fails with another secret', () => {
  for (const alg of TSIG_ALGORITHMS) {
    const wire = encodeMessage(buildQuery(42, 'host.example.test', TYPE.A));
    const { wire: signed } = signRequest(wire, key(alg));
    const m = verifyRequest(signed, key(alg));
    assert.equal(m.additionals.at(-1)?.type, TYPE.TSIG);
    const wrong = { ...key(alg), secret: Uint8Array.of(1, 2, 3) };
    assert.throws(() => verifyRequest(signed, wrong), DnsTsigError);
  }
});

test('a response is verified against the request MAC (a server signing as RFC 8945 says)', () => {
  const k = key('hmac-sha256');
  const { mac } = signRequest(encodeMessage(buildQuery(9, 'x.example.test', TYPE.A)), k);
  // Build a server reply signed over requestMAC ‖ reply, then check we accept it and reject tampering.
  const reply = buildQuery(9, 'x.example.test', TYPE.A);
  reply.qr = true;
  const replyWire = encodeMessage(reply);
  const prefixed = new Uint8Array(2 + mac.length + replyWire.length);
  prefixed.set([mac.length >> 8, mac.length & 0xff], 0);
  prefixed.set(mac, 2);
  prefixed.set(replyWire, 2 + mac.length);
  // signRequest computes HMAC(wire ‖ vars); feed it the prefixed body and move the TSIG over.
  const { wire: signedPrefixed } = signRequest(prefixed, k);
  const tsigPart = signedPrefixed.subarray(prefixed.length);
  const signedReply = new Uint8Array(replyWire.length + tsigPart.length);
  signedReply.set(replyWire, 0);
  signedReply.set(tsigPart, replyWire.length);
  signedReply[11] = 1;
  // the TSIG's original id came from the prefixed buffer's first bytes; restore the real id
  const m = decodeMessage(signedReply);
  const rd = m.additionals[0].data;
  const off = signedReply.length - 6;
  signedReply[off] = 0;
  signedReply[off + 1] = 9;
  assert.equal(rd.length > 0, true);
  const r = verifyResponse(signedReply, k, mac);
  assert.equal(r.kind, 'ok');
  const tampered = signedReply.slice();
  tampered[3] ^= 0x01;
  assert.throws(() => verifyResponse(tampered, k, mac), DnsTsigError);
});

test('key files: tsig-keygen output, comments, several keys, dnssec-keygen .private', () => {
  const text = `# generated
key "foreman-tsig" {
\talgorithm hmac-sha256;
\tsecret "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
};
/* another */ key second { algorithm HMAC-MD5.SIG-ALG.REG.INT; secret "AAAA"; };
options { directory "/tmp"; };`;
  const keys = parseBindKeys(text);
  assert.deepEqual(
    keys.map((k) => [k.name, k.algorithm, k.secret.length]),
    [
      ['foreman-tsig', 'hmac-sha256', 20],
      ['second', 'hmac-md5', 3],
    ],
  );
  assert.equal(parseKeyFile(text, 'x.key').name, 'foreman-tsig');
  const priv = 'Private-key-format: v1.3\nAlgorithm: 157 (HMAC_MD5)\nKey: c2VjcmV0\nBits: AAA=\n';
  const k = parseKeyFile(priv, '/etc/bind/Kdhcp-key.+157+12345.private');
  assert.deepEqual([k.name, k.algorithm, Buffer.from(k.secret).toString()], ['dhcp-key', 'hmac-md5', 'secret']);
  assert.throws(() => parseKeyFile('key "k" { algorithm hmac-sha256; };', 'f'), /no secret/);
  assert.throws(() => parseKeyFile('key "k" { algorithm gss-tsig; secret "AAAA"; };', 'f'), /unsupported algorithm 'gss-tsig'/);
  assert.throws(() => parseKeyFile('zone "x" {};', 'f'), /no key/);
  assert.throws(() => parseKeyFile('key "k" { algorithm hmac-sha1; secret "not base64!"; };', 'f'), DnsParseError);
});

test('key file parser never throws anything but DnsParseError on random text', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      try {
        parseKeyFile(s, 'random.key');
      } catch (err) {
        assert.ok(err instanceof DnsParseError, String(err));
      }
    }),
    { numRuns: 1000 },
  );
});

test('IP parsing: strict IPv4, RFC 5952 IPv6, reverse names', () => {
  assert.deepEqual(parseIPv4('192.0.2.1'), Uint8Array.of(192, 0, 2, 1));
  for (const bad of ['01.2.3.4', '1.2.3', '1.2.3.256', '1.2.3.4/24', ' 1.2.3.4', '::1']) assert.equal(parseIPv4(bad), null, bad);
  const v6 = parseIPv6('2001:0DB8:0:0:0:0:0:1');
  assert.ok(v6);
  assert.equal(formatIPv6(v6), '2001:db8::1');
  assert.equal(formatIPv6(parseIPv6('::ffff:192.0.2.1') as Uint8Array), '::ffff:c000:201');
  assert.equal(formatIPv6(parseIPv6('2001:db8:0:1:1:1:1:1') as Uint8Array), '2001:db8:0:1:1:1:1:1');
  for (const bad of ['1::2::3', '12345::', '1.2.3.4', 'fe80::1%eth0', ':::', '1:2:3:4:5:6:7:8:9']) assert.equal(parseIPv6(bad), null, bad);
  assert.equal(reverseName(Uint8Array.of(192, 0, 2, 10)), '10.2.0.192.in-addr.arpa');
  assert.match(reverseName(parseIPv6('2001:db8::1') as Uint8Array), /^1(\.0){23}\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa$/);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      assert.deepEqual(parseIPv6(formatIPv6(b)), b);
    }),
  );
});

test('verifying random or corrupted signed messages only ever throws the library\'s own errors', () => {
  const k = key('hmac-sha1');
  const { wire: signed, mac } = signRequest(encodeMessage(buildQuery(5, 'a.example.test', TYPE.A)), k);
  fc.assert(
    fc.property(fc.nat(), fc.nat(255), fc.nat(), (pos, val, cut) => {
      const bad = signed.slice(0, signed.length - (cut % 4));
      bad[pos % bad.length] = val;
      for (const f of [() => verifyRequest(bad, k), () => verifyResponse(bad, k, mac)]) {
        try {
          f();
        } catch (err) {
          assert.ok(err instanceof DnsParseError || err instanceof DnsTsigError, String(err));
        }
      }
    }),
    { numRuns: 2000 },
  );
});
