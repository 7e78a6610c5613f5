import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkRegex } from './network-regex.ts';
import { wapiBaseUrl } from './wapi.ts';
import { formatIpv4, parseIpv4 } from '../isc/ipv4.ts';

test('wapiBaseUrl: a bare host (the plugins\' setting) becomes https with the version path', () => {
  assert.equal(wapiBaseUrl('grid.example.com', '2.0').href, 'https://grid.example.com/wapi/v2.0/');
  assert.equal(wapiBaseUrl('10.0.0.5:8443', '2.12').href, 'https://10.0.0.5:8443/wapi/v2.12/');
  assert.equal(wapiBaseUrl('https://grid.example.com/anything?x=1', '2.0').href, 'https://grid.example.com/wapi/v2.0/');
  assert.throws(() => wapiBaseUrl('https://admin:secret@grid.example.com', '2.0'), /must not carry credentials/);
});

test('networkRegex matches exactly the addresses of the network', () => {
  for (const [net, prefix] of [['192.0.2.0', 24], ['192.0.2.64', 26], ['10.8.0.0', 14], ['10.1.2.3', 32], ['172.16.0.0', 12]] as const) {
    const re = new RegExp(networkRegex(parseIpv4(net)!, prefix));
    const first = parseIpv4(net)!;
    const size = 2 ** (32 - prefix);
    for (const n of [first, first + size - 1, first + Math.floor(size / 2)]) assert.ok(re.test(formatIpv4(n)), `${formatIpv4(n)} in ${net}/${prefix}`);
    for (const n of [first - 1, first + size]) assert.ok(!re.test(formatIpv4(n)), `${formatIpv4(n)} not in ${net}/${prefix}`);
  }
  assert.equal(networkRegex(parseIpv4('192.0.2.0')!, 24), '^192\\.0\\.2\\.[0-9]+$');
});
