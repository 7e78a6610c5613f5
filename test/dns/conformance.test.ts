// The shared DNS conformance suite (test/lib/dns-conformance.ts) against the first-wave providers:
// dns_nsupdate with a real BIND named, and dns_powerdns with a real PowerDNS. Every provider of
// issue 15 runs the same suite against its own backend.

import { after, before, describe } from 'node:test';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { dnsConformance } from '../lib/dns-conformance.ts';
import { createNamed, REV4, REV6, ZONE, type Named } from './named.ts';
import { createPdns, type Pdns } from './pdns.ts';

describe('dns conformance: dns_nsupdate against a real named', { timeout: 180_000 }, () => {
  let named: Named;
  let proxy: TestProxy;
  before(async () => {
    named = await createNamed();
    await named.start();
    proxy = await startTestProxy({
      global: { dns_resolv_timeouts: [1, 2] },
      files: {
        dns: { enabled: true, use_provider: 'dns_nsupdate', dns_ttl: 300 },
        dns_nsupdate: { dns_server: `127.0.0.1:${named.port}`, dns_key: named.keyFiles['hmac-sha256'] },
      },
    });
  });
  after(async () => {
    await proxy?.close();
    await named?.cleanup();
  });
  dnsConformance(() => ({
    request: (method, path, options) => proxy.request(method, path, options),
    zone: ZONE,
    reverseNet: '192.0.2',
    lookup: (type, name) => named.dig(name, type),
  }));
});

describe('dns conformance: dns_powerdns against a real PowerDNS', { timeout: 180_000 }, () => {
  let pdns: Pdns;
  let proxy: TestProxy;
  before(async () => {
    pdns = await createPdns();
    await pdns.start();
    for (const z of [ZONE, REV4, REV6]) await pdns.createZone(z);
    proxy = await startTestProxy({
      files: {
        dns: { enabled: true, use_provider: 'dns_powerdns', dns_ttl: 300 },
        dns_powerdns: { powerdns_rest_url: pdns.apiUrl, powerdns_rest_api_key: pdns.apiKey },
      },
    });
  });
  after(async () => {
    await proxy?.close();
    await pdns?.cleanup();
  });
  dnsConformance(() => ({
    request: (method, path, options) => proxy.request(method, path, options),
    zone: ZONE,
    reverseNet: '192.0.2',
    lookup: (type, name) => pdns.dig(name, type),
  }));
});
