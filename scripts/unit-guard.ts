// Loaded (node --import) into every test of the fast tier: a unit test that binds a socket fails
// at once, naming what it tried, so tests that need the network stay in test/ (the integration
// tier, which may need root and daemons).

import net from 'node:net';
import dgram from 'node:dgram';

function refuse(what: string): never {
  throw new Error(`${what}: unit tests (src/**/*.test.ts) must not bind sockets; put this test under test/`);
}

net.Server.prototype.listen = function listen(): never {
  refuse('net.Server.listen');
};
dgram.Socket.prototype.bind = function bind(): never {
  refuse('dgram.Socket.bind');
};
