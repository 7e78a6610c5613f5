// Who a host-identifying path sees as the caller: its own certificate, or the one a trusted front
// end (the router) names in X-Client-Certificate-CN. Fake TLS sockets: only the fields read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { authorize, callerCertificateIdentity, FrontEnds } from './auth.ts';
import type { GlobalSettings } from '../settings/global.ts';

function peer(remoteAddress: string, cn: string | undefined, authorized = true): Socket {
  return { remoteAddress, authorized, getPeerCertificate: () => (cn === undefined ? {} : { subject: { CN: cn } }) } as unknown as Socket;
}

const settings = { trustedProxies: ['192.0.2.10', '198.51.100.0/24'], trustedHosts: ['foreman.example.com', 'router.example.com'] };
const named = (cn?: string): Record<string, string | undefined> => ({ 'x-client-certificate-cn': cn });

test('a front end must be listed by address and authenticated by a certificate in trusted_hosts', () => {
  const frontEnds = new FrontEnds(settings);
  assert.equal(frontEnds.vouches(peer('192.0.2.10', 'router.example.com'), true), true);
  assert.equal(frontEnds.vouches(peer('::ffff:198.51.100.7', 'Router.Example.com'), true), true);
  // A listed address with a host's own (valid) certificate: a host never vouches for another.
  assert.equal(frontEnds.vouches(peer('192.0.2.10', 'host.example.com'), true), false);
  // The router's certificate from an address not listed.
  assert.equal(frontEnds.vouches(peer('192.0.2.11', 'router.example.com'), true), false);
  // An unverified certificate, plain HTTP, no list, no trusted_hosts.
  assert.equal(frontEnds.vouches(peer('192.0.2.10', 'router.example.com', false), true), false);
  assert.equal(frontEnds.vouches(peer('192.0.2.10', 'router.example.com'), false), false);
  assert.equal(new FrontEnds({ ...settings, trustedProxies: [] }).vouches(peer('192.0.2.10', 'router.example.com'), true), false);
  assert.equal(new FrontEnds({ ...settings, trustedHosts: null }).vouches(peer('192.0.2.10', 'router.example.com'), true), false);
});

test('the CN named by a front end is the caller; anyone else’s header is ignored', () => {
  const frontEnds = new FrontEnds(settings);
  const router = (headers: Record<string, string | undefined>) => callerCertificateIdentity({ socket: peer('192.0.2.10', 'router.example.com'), headers }, true, settings);
  assert.deepEqual(router(named('host.example.com')), { cn: 'host.example.com' });
  // The front end's caller had no certificate: the front end's own CN is not taken instead.
  assert.deepEqual(router(named('')), { denied: 'could not read client cert from environment' });
  // No header: the front end calls for itself.
  assert.deepEqual(router({}), { cn: 'router.example.com' });
  for (const bad of ['a b', 'host/x', 'a,b', 'x'.repeat(256), 'host\u0000']) {
    assert.deepEqual(router(named(bad)), { denied: 'the front end sent an invalid x-client-certificate-cn header' }, JSON.stringify(bad));
  }
  // A host sending the header itself is identified by its own certificate.
  const host = callerCertificateIdentity({ socket: peer('192.0.2.10', 'host.example.com'), headers: named('victim.example.com') }, true, settings);
  assert.deepEqual(host, { cn: 'host.example.com' });
  assert.equal(frontEnds.named({}), undefined);
});

test('behind a trusted front end, trusted_hosts applies to the caller it names', () => {
  const global = { ...settings, trustedHosts: ['foreman.example.com', 'router.example.com'] } as unknown as GlobalSettings;
  const via = (headers: Record<string, string | undefined>, socket = peer('192.0.2.10', 'router.example.com')) => authorize({ socket, https: true, subPath: '/x', headers }, global);
  assert.equal(via(named('foreman.example.com')), undefined);
  assert.equal(via(named('host.example.com')), 'Untrusted client host.example.com attempted to access /x. Check :trusted_hosts: in settings.yml');
  assert.equal(via(named('')), 'could not read client cert from environment');
  // The router's own calls (health checks) carry no header.
  assert.equal(via({}), undefined);
  // Without headers given (callers that do not pass them), or from a peer that is no front end.
  assert.equal(authorize({ socket: peer('192.0.2.10', 'router.example.com'), https: true, subPath: '/x' }, global), undefined);
  assert.equal(via(named('foreman.example.com'), peer('192.0.2.99', 'host.example.com')), 'Untrusted client host.example.com attempted to access /x. Check :trusted_hosts: in settings.yml');
});
