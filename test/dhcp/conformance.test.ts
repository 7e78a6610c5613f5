// The shared DHCP conformance suite (test/lib/dhcp-conformance.ts) against dhcp_isc with a real
// ISC dhcpd over OMAPI. Reservations are observed in the leases file dhcpd itself writes (host
// declarations it appends, `deleted;` when removed). Every provider of issue 15 runs the same suite.

import { after, before, describe } from 'node:test';
import { readFile } from 'node:fs/promises';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { dhcpConformance } from '../lib/dhcp-conformance.ts';
import { envProxyFiles, hostFromLeases, startIscEnv, type IscEnv } from './isc-env.ts';

describe('dhcp conformance: dhcp_isc against a real dhcpd', { timeout: 180_000 }, () => {
  let env: IscEnv;
  let proxy: TestProxy;
  before(async () => {
    env = await startIscEnv();
    await env.startDhcpd();
    proxy = await startTestProxy({ files: envProxyFiles(env, 3) });
  });
  after(async () => {
    await proxy?.close();
    await env?.close();
  });
  dhcpConformance(() => ({
    request: (method, path, options) => proxy.request(method, path, options),
    network: '192.168.122.0',
    netmask: '255.255.255.0',
    freePair: ['192.168.122.120', '192.168.122.121'],
    reservation: async (mac) => hostFromLeases(await readFile(env.leases, 'utf8'), mac),
  }));
});
