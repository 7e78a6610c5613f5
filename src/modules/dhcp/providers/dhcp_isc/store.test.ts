import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IscStore, ipKey } from './store.ts';
import { parseIpv4 } from '../../../../lib/isc/ipv4.ts';
import type { LeaseDecl, HostDecl } from '../../../../lib/isc/decls.ts';

const subnets = [
  { network: '10.0.0.0', netmask: '255.0.0.0', options: {}, net: parseIpv4('10.0.0.0')!, mask: parseIpv4('255.0.0.0')! },
  { network: '10.1.0.0', netmask: '255.255.0.0', options: {}, net: parseIpv4('10.1.0.0')!, mask: parseIpv4('255.255.0.0')! },
];
const host = (name: string, ip: string, mac: string, extra: Partial<HostDecl> = {}): HostDecl => ({ name, ip, mac, dynamic: true, deleted: false, options: {}, ...extra });
const lease = (ip: string, mac: string | undefined, state: string, extra: Partial<LeaseDecl> = {}): LeaseDecl => ({ ip, mac, state, starts: null, ends: null, options: {}, ...extra });

test('most specific subnet wins; records outside every subnet are ignored', () => {
  const s = new IscStore(subnets);
  assert.equal(s.findSubnet(parseIpv4('10.1.2.3')!)?.subnet.network, '10.1.0.0');
  assert.equal(s.findSubnet(parseIpv4('10.2.2.3')!)?.subnet.network, '10.0.0.0');
  assert.equal(s.findSubnet(parseIpv4('11.0.0.1')!), undefined);
  s.applyHost(host('out', '11.0.0.1', '00:00:00:00:00:01'), false);
  s.applyLease(lease('11.0.0.2', '00:00:00:00:00:02', 'active'), 0);
  assert.deepEqual(s.counts(), { reservations: 0, leases: 0 });
});

test('host rules: same MAC replaces, deleted removes by name, several hosts may share an IP', () => {
  const s = new IscStore(subnets);
  s.applyHost(host('a', '10.1.0.5', '00:00:00:00:00:01'), false);
  s.applyHost(host('a2', '10.1.0.6', '00:00:00:00:00:01'), false);
  const st = s.findSubnet(parseIpv4('10.1.0.5')!)!;
  assert.equal(st.resByIp.get(ipKey(parseIpv4('10.1.0.5')!)), undefined);
  assert.equal(st.resByMac.get('00:00:00:00:00:01')?.name, 'a2');
  s.applyHost(host('b', '10.1.0.6', '00:00:00:00:00:02'), false);
  assert.equal(st.resByIp.get(ipKey(parseIpv4('10.1.0.6')!))?.length, 2);
  s.applyHost({ name: 'a2', dynamic: true, deleted: true, options: {} }, false);
  assert.deepEqual(st.resByIp.get(ipKey(parseIpv4('10.1.0.6')!))?.map((r) => r.name), ['b']);
  s.applyHost(host('c', '10.1.0.9', '00:00:00:00:00:03'), true);
  assert.equal(st.resByMac.get('00:00:00:00:00:03')?.deleteable, false);
  assert.equal(st.resByMac.get('00:00:00:00:00:03')?.options.hostname, 'c');
});

test('lease rules: free removes, expired with next state free removes, new lease replaces by IP and MAC', () => {
  const s = new IscStore(subnets);
  const st = s.findSubnet(parseIpv4('10.1.0.5')!)!;
  s.applyLease(lease('10.1.0.5', 'aa:00:00:00:00:01', 'active'), 0);
  s.applyLease(lease('10.1.0.6', 'aa:00:00:00:00:01', 'active'), 0);
  assert.deepEqual([...st.leaseByIp.values()].map((l) => l.ip), ['10.1.0.6']);
  s.applyLease(lease('10.1.0.6', 'aa:00:00:00:00:02', 'active'), 0);
  assert.equal(st.leaseByMac.get('aa:00:00:00:00:01'), undefined);
  s.applyLease(lease('10.1.0.6', 'aa:00:00:00:00:02', 'active', { nextState: 'free', ends: '2020-01-01 00:00:00 UTC' }), Date.now() / 1000);
  assert.equal(st.leaseByIp.size, 0);
  s.applyLease(lease('10.1.0.7', 'aa:00:00:00:00:03', 'active'), 0);
  s.applyLease(lease('10.1.0.7', undefined, 'free'), 0);
  assert.equal(st.leaseByIp.size, 0);
  s.applyLease(lease('10.1.0.8', undefined, 'active'), 0);
  assert.equal(st.leaseByIp.size, 0);
});
