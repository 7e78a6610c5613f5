// The shared DHCP conformance suite (test/lib/dhcp-conformance.ts) against dhcp_kea with a real
// kea-dhcp4 and its control agent. Reservations are observed in Kea's running configuration
// (config-get straight to the agent).

import { after, before, describe } from 'node:test';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { dhcpConformance, type BackendReservation } from '../lib/dhcp-conformance.ts';
import { keaProxyFiles, startKeaLab, type KeaLab } from './harness.ts';

interface KeaReservation {
  'hw-address'?: string;
  'ip-address'?: string;
  hostname?: string;
}

describe('dhcp conformance: dhcp_kea against a real kea-dhcp4', { timeout: 180_000 }, () => {
  let lab: KeaLab;
  let proxy: TestProxy;
  before(async () => {
    lab = await startKeaLab();
    proxy = await startTestProxy({ files: keaProxyFiles(lab, {}) });
  });
  after(async () => {
    await proxy?.close();
    await lab?.close();
  });
  const reservation = async (mac: string): Promise<BackendReservation | undefined> => {
    const r = await lab.agent('config-get');
    const cfg = r.arguments as { Dhcp4: { subnet4: { reservations?: KeaReservation[] }[] } };
    for (const s of cfg.Dhcp4.subnet4) {
      for (const h of s.reservations ?? []) {
        if (h['hw-address']?.toLowerCase() === mac && h['ip-address']) return { ip: h['ip-address'], mac, hostname: h.hostname };
      }
    }
    return undefined;
  };
  dhcpConformance(() => ({
    request: (method, path, options) => proxy.request(method, path, options),
    network: '192.168.122.0',
    netmask: '255.255.255.0',
    freePair: ['192.168.122.120', '192.168.122.121'],
    reservation,
  }));
});
