import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildQuery,
  cgiEscape,
  clientAddress,
  isDotSegment,
  forwardedHeaders,
  netHttpClassName,
  NonScalarParamError,
  rubyInspect,
  TrustedProxies,
  upstreamAccept,
} from './forwarding.ts';

test('cgiEscape matches Ruby CGI.escape on the spec examples', () => {
  assert.equal(cgiEscape('aa:bb'), 'aa%3Abb');
  assert.equal(cgiEscape('http://proxy.example.com:8000'), 'http%3A%2F%2Fproxy.example.com%3A8000');
  assert.equal(cgiEscape('kind x'), 'kind+x');
  assert.equal(cgiEscape("a!b*c'd(e)f~g-h_i.j"), 'a%21b%2Ac%27d%28e%29f~g-h_i.j');
  assert.equal(cgiEscape('text/plain'), 'text%2Fplain');
  assert.equal(cgiEscape('é'), '%C3%A9');
});

test('cgiEscape output only holds unreserved characters and decodes back', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      const e = cgiEscape(s);
      assert.match(e, /^[A-Za-z0-9_.\-~+%]*$/);
      assert.equal(decodeURIComponent(e.replace(/\+/g, '%20')), s);
    }),
  );
});

test('isDotSegment', () => {
  assert.equal(isDotSegment('..'), true);
  assert.equal(isDotSegment('.'), true);
  assert.equal(isDotSegment('a..b'), false);
  assert.equal(isDotSegment('...'), false);
});

test('buildQuery keeps order, drops nulls and refuses lists and maps naming the field', () => {
  assert.equal(
    buildQuery([['token', 'abc'], ['mac', 'aa:bb'], ['bare', null], ['url', 'http://p:8000']]),
    'token=abc&mac=aa%3Abb&url=http%3A%2F%2Fp%3A8000',
  );
  assert.equal(buildQuery([]), '');
  assert.throws(() => buildQuery([['a', ['1', '2']]]), (e: unknown) => e instanceof NonScalarParamError && e.message === "parameter 'a' must be a single value, not a list");
  assert.throws(() => buildQuery([['h', { k: 'v' }]]), /parameter 'h' must be a single value, not a map/);
});

test('forwardedHeaders drops host, version, hop-by-hop and body-framing headers', () => {
  const out = forwardedHeaders(
    {
      host: 'proxy:8000',
      version: 'HTTP/1.1',
      'user-agent': 'curl/8',
      'x-rhn-provisioning-mac-0': 'eth0 aa:bb:cc:dd:ee:ff',
      authorization: 'Bearer x',
      connection: 'keep-alive, X-Hop',
      'x-hop': 'gone',
      'keep-alive': 'timeout=5',
      'content-length': '3',
      'content-type': 'text/plain',
      'transfer-encoding': 'chunked',
      'accept-encoding': 'gzip',
      'x-forwarded-for': '10.0.0.9',
      cookie: ['a=1', 'b=2'],
    },
    { drop: ['x-forwarded-for'] },
  );
  assert.deepEqual(out, {
    'user-agent': 'curl/8',
    'x-rhn-provisioning-mac-0': 'eth0 aa:bb:cc:dd:ee:ff',
    authorization: 'Bearer x',
    cookie: 'a=1, b=2',
  });
});

test('upstreamAccept puts the reference defaults first and the client value last', () => {
  assert.equal(upstreamAccept(undefined), '*/*, application/json,version=2');
  assert.equal(upstreamAccept('text/plain'), '*/*, application/json,version=2, text/plain');
});

test('clientAddress strips the IPv4-mapped prefix only', () => {
  assert.equal(clientAddress('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientAddress('2001:db8::1'), '2001:db8::1');
  assert.equal(clientAddress('127.0.0.1'), '127.0.0.1');
});

test('rubyInspect renders params like Ruby Hash#inspect', () => {
  assert.equal(rubyInspect({ token: 'abc', kind: 'provision' }), '{"token"=>"abc", "kind"=>"provision"}');
  assert.equal(rubyInspect({ a: null, b: ['1', { c: 'q"x' }] }), '{"a"=>nil, "b"=>["1", {"c"=>"q\\"x"}]}');
  assert.equal(rubyInspect({ t: '#{x}\n' }), '{"t"=>"\\#{x}\\n"}');
});

test('netHttpClassName', () => {
  assert.equal(netHttpClassName(404), 'Net::HTTPNotFound');
  assert.equal(netHttpClassName(500), 'Net::HTTPInternalServerError');
  assert.equal(netHttpClassName(418), 'Net::HTTPClientError');
  assert.equal(netHttpClassName(599), 'Net::HTTPServerError');
});

test('TrustedProxies: X-Forwarded-For is believed only from a listed front end, right-most untrusted hop first', () => {
  const none = new TrustedProxies([]);
  assert.equal(none.clientOf('::ffff:192.0.2.7', '198.51.100.1'), '192.0.2.7', 'no front end listed: the peer');
  const proxies = new TrustedProxies(['192.0.2.10', '10.0.0.0/8']);
  assert.equal(proxies.clientOf('192.0.2.99', '198.51.100.1'), '192.0.2.99', 'an unlisted peer cannot claim another address');
  assert.equal(proxies.clientOf('192.0.2.10', '198.51.100.1'), '198.51.100.1');
  assert.equal(proxies.clientOf('::ffff:192.0.2.10', '203.0.113.5, 198.51.100.1, 10.1.2.3'), '198.51.100.1', 'a spoofed left-most entry is skipped');
  assert.equal(proxies.clientOf('192.0.2.10', ['203.0.113.5', '[2001:db8::5]']), '2001:db8::5');
  assert.equal(proxies.clientOf('192.0.2.10', '198.51.100.1, not-an-address'), '192.0.2.10', 'junk in the chain: the front end itself');
  assert.equal(proxies.clientOf('192.0.2.10', '10.0.0.1'), '192.0.2.10', 'only front ends in the chain');
  assert.equal(proxies.clientOf('192.0.2.10', undefined), '192.0.2.10');
});
