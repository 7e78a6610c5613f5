// The provider's host_cmds path. Debian's Kea 2.2 has no host_cmds hook (a premium hook in that
// release), so a loopback HTTP server stands in for a Control Agent in front of a server that has
// it and a host database. The config-set path is proven against the real Kea in provider.test.ts.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KeaClient } from '../../src/lib/kea/client.ts';
import { ProxyError } from '../../src/core/errors.ts';
import type { Logger } from '../../src/core/logging-types.ts';
import type { Reservation } from '../../src/modules/dhcp/provider.ts';
import { KeaDhcpProvider } from '../../src/modules/dhcp/providers/dhcp_kea/kea-provider.ts';

const silent: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  withRequest: () => silent,
  child: () => silent,
};

interface Host {
  'subnet-id': number;
  'hw-address': string;
  'ip-address': string;
  [k: string]: unknown;
}

/** In-memory state of the stood-in server. */
const state = {
  hostsDb: true,
  commands: [] as string[],
  hosts: [] as Host[],
  configSets: 0,
  reservationsInConfig: [{ 'hw-address': '52:54:00:00:00:20', 'ip-address': '10.0.0.20', hostname: 'static' }] as unknown[],
};

const sockets = new Set<Socket>();
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    const { command, arguments: args } = JSON.parse(body) as { command: string; arguments?: Record<string, unknown> };
    state.commands.push(command);
    const reply = (r: unknown): void => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify([r]));
    };
    switch (command) {
      case 'list-commands':
        return reply({ result: 0, arguments: ['config-get', 'config-set', 'config-test', 'lease4-get', 'lease4-get-all', 'reservation-add', 'reservation-del', 'reservation-get-all'] });
      case 'config-get':
        return reply({
          result: 0,
          arguments: {
            Dhcp4: {
              ...(state.hostsDb ? { 'hosts-database': { type: 'mysql', name: 'kea' } } : {}),
              subnet4: [{ id: 7, subnet: '10.0.0.0/24', reservations: state.reservationsInConfig }],
            },
          },
        });
      case 'config-test':
        return reply({ result: 0, text: 'ok' });
      case 'config-set': {
        state.configSets++;
        const cfg = args as { Dhcp4: { subnet4: Array<{ reservations: unknown[] }> } };
        state.reservationsInConfig = cfg.Dhcp4.subnet4[0].reservations;
        return reply({ result: 0, text: 'Configuration successful.' });
      }
      case 'reservation-add': {
        const h = (args as { reservation: Host }).reservation;
        if (state.hosts.some((x) => x['hw-address'] === h['hw-address'])) return reply({ result: 1, text: 'Database duplicate entry error' });
        state.hosts.push(h);
        return reply({ result: 0, text: 'Host added.' });
      }
      case 'reservation-get-all': {
        const hosts = state.hosts.filter((h) => h['subnet-id'] === args?.['subnet-id']);
        return reply({ result: hosts.length ? 0 : 3, text: `${hosts.length} IPv4 host(s) found.`, arguments: { hosts } });
      }
      case 'reservation-del': {
        const before = state.hosts.length;
        state.hosts = state.hosts.filter((h) => !(h['subnet-id'] === args?.['subnet-id'] && h['hw-address'] === args?.identifier));
        return reply(before === state.hosts.length ? { result: 3, text: 'Host not deleted (not found).' } : { result: 0, text: 'Host deleted.' });
      }
      case 'lease4-get-all':
        return reply({ result: 3, text: '0 IPv4 lease(s) found.', arguments: { leases: [] } });
      case 'lease4-get':
        return reply({ result: 3, text: 'Lease not found.' });
      default:
        return reply({ result: 2, text: `'${command}' command not supported.` });
    }
  });
});
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

function provider(): KeaDhcpProvider {
  const client = new KeaClient({ url, timeoutMs: 2000 });
  return new KeaDhcpProvider({ client, service: 'dhcp4', configWrite: false, holdMs: 1000, log: silent, configCacheMs: 0 });
}

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

test('stand-in host_cmds server: reservations go through reservation-add/-del and read back merged with the config ones', async () => {
  const p = provider();
  try {
    const subnet = (await p.findSubnet('10.0.0.5'))!;
    const nr = { name: 'db1', hostname: 'db1.test', ip: '10.0.0.42', mac: '52:54:00:00:00:42', filename: 'pxelinux.0' };
    await p.createReservation(subnet, nr);
    assert.equal(state.configSets, 0);
    assert.equal(state.hosts.length, 1);
    assert.equal(state.hosts[0]['subnet-id'], 7);

    const records = await p.subnetRecords(subnet);
    assert.deepEqual(records.reservations.map((r) => r.mac), ['52:54:00:00:00:20', '52:54:00:00:00:42']);
    const stored = (await p.findByMac(subnet, nr.mac)) as Reservation;
    assert.equal(stored.name, 'db1');
    assert.equal(stored.options.filename, 'pxelinux.0');

    await p.createReservation(subnet, nr); // identical: no second add
    assert.equal(state.commands.filter((c) => c === 'reservation-add').length, 1);
    await assert.rejects(p.createReservation(subnet, { ...nr, filename: 'other' }), (e: unknown) => e instanceof ProxyError && e.status === 409);

    await p.deleteReservation(subnet, stored);
    assert.equal(state.hosts.length, 0);
    assert.equal(state.configSets, 0);

    // A reservation from the configuration file is removed from the configuration, even here.
    const fromConfig = (await p.findByMac(subnet, '52:54:00:00:00:20')) as Reservation;
    await p.deleteReservation(subnet, fromConfig);
    assert.equal(state.configSets, 1);
    assert.deepEqual(state.reservationsInConfig, []);
  } finally {
    await p.close();
  }
});

test('stand-in host_cmds server without a host database: the configuration path is used', async () => {
  state.hostsDb = false;
  state.commands = [];
  const p = provider();
  try {
    const subnet = (await p.findSubnet('10.0.0.5'))!;
    await p.createReservation(subnet, { name: 'c1', hostname: 'c1', ip: '10.0.0.43', mac: '52:54:00:00:00:43' });
    assert.equal(state.commands.includes('reservation-add'), false);
    assert.deepEqual(state.commands.slice(-3), ['config-get', 'config-test', 'config-set']);
    assert.equal(state.hosts.length, 0);
  } finally {
    await p.close();
  }
});
