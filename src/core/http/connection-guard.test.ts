// Admission decisions of ConnectionGuard without sockets: per-peer limit, the reserve, reaping of
// the longest-idle connections, and release exactly once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionGuard, ControlPeers } from './connection-guard.ts';

class FakeConn {
  destroyed = 0;
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  destroy(): void {
    this.destroyed++;
  }
}

function guard(maxConnections: number, maxPerPeer: number, reserved: number, control: string[] = []): ConnectionGuard<FakeConn> {
  return new ConnectionGuard<FakeConn>({ maxConnections, maxPerPeer, reserved }, (peer) => control.includes(peer));
}

function fill(g: ConnectionGuard<FakeConn>, peer: string, n: number, busy = false): FakeConn[] {
  return Array.from({ length: n }, (_, i) => {
    const c = new FakeConn(`${peer}#${i}`);
    assert.equal(g.admit(c, peer), undefined, `${c.name} admitted`);
    if (busy) g.requestStarted(c);
    return c;
  });
}

test('a peer gets at most maxPerPeer connections; control peers are exempt', () => {
  const g = guard(100, 3, 10, ['10.0.0.1']);
  fill(g, '10.0.0.9', 3);
  assert.equal(g.admit(new FakeConn('4th'), '10.0.0.9'), 'peer-limit');
  assert.equal(g.connectionsOf('10.0.0.9'), 3);
  fill(g, '10.0.0.1', 20);
  assert.equal(g.open, 23);
});

test('release gives the slot back exactly once', () => {
  const g = guard(100, 2, 0);
  const [a, b] = fill(g, 'p', 2);
  assert.equal(g.release(a), true);
  assert.equal(g.release(a), false, 'a second close of the same socket changes nothing');
  assert.equal(g.connectionsOf('p'), 1);
  fill(g, 'p', 1);
  assert.equal(g.admit(new FakeConn('x'), 'p'), 'peer-limit');
  g.release(b);
  assert.equal(g.open, 1);
});

test('near the cap, each new connection closes the longest-idle one, busy ones are kept', () => {
  const g = guard(10, 10, 2);
  const busy = fill(g, 'a', 4, true);
  const idle = fill(g, 'b', 4);
  assert.equal(g.open, 8); // the reserve threshold
  // A connection that became idle again is the youngest idle one.
  g.requestStarted(idle[0]);
  g.requestFinished(idle[0]);
  fill(g, 'c', 1);
  assert.deepEqual(
    idle.map((c) => c.destroyed),
    [0, 1, 0, 0],
  );
  // The same peer again (not new, so not for the reserve): still admitted, as an idle one made room.
  assert.equal(g.admit(new FakeConn('c2'), 'c'), undefined);
  assert.deepEqual(
    idle.map((c) => c.destroyed),
    [0, 1, 1, 0],
  );
  assert.ok(busy.every((c) => c.destroyed === 0), 'connections with a request in flight are never closed');
  assert.equal(g.open, 8);
  assert.equal(g.reaped, 2);
});

test('the reserve: without idle connections, only control peers and new peers get the last slots', () => {
  const g = guard(10, 10, 3, ['10.0.0.1']);
  fill(g, 'a', 7, true);
  assert.equal(g.admit(new FakeConn('a8'), 'a'), 'reserve');
  fill(g, 'new1', 1, true);
  fill(g, '10.0.0.1', 2, true);
  assert.equal(g.open, 10);
  assert.equal(g.admit(new FakeConn('new2'), 'new2'), 'full');
  assert.equal(g.admit(new FakeConn('ctl'), '10.0.0.1'), 'full');
});

test('at the cap, an idle connection is closed rather than the new one refused', () => {
  const g = guard(4, 4, 0);
  const [idle] = fill(g, 'a', 1);
  fill(g, 'a', 2, true);
  fill(g, 'b', 1, true);
  assert.equal(g.open, 4);
  assert.equal(idle.destroyed, 0);
  const b2 = new FakeConn('b2');
  assert.equal(g.admit(b2, 'b'), undefined);
  assert.equal(idle.destroyed, 1);
  g.requestStarted(b2);
  assert.equal(g.open, 4);
  assert.equal(g.admit(new FakeConn('b3'), 'b'), 'full', 'nothing idle left to close');
});

test('requests on released or unknown connections are ignored', () => {
  const g = guard(4, 4, 0);
  const [c] = fill(g, 'a', 1);
  g.requestStarted(c);
  g.release(c);
  g.requestFinished(c);
  g.requestFinished(new FakeConn('stranger'));
  assert.equal(g.open, 0);
  const [d] = fill(g, 'a', 1);
  g.requestFinished(d); // more finishes than starts must not make it "more idle"
  g.requestStarted(d);
  fill(g, 'a', 3);
  assert.equal(g.admit(new FakeConn('x'), 'b'), undefined, 'reaps an idle one, never the busy d');
  assert.equal(d.destroyed, 0);
});

test('control peers by address, subnet and resolved name (IPv4-mapped addresses folded)', () => {
  const c = new ControlPeers(['192.0.2.1', '198.51.100.0/24', '2001:db8::/32']);
  assert.ok(c.has('192.0.2.1'));
  assert.ok(!c.has('192.0.2.2'));
  assert.ok(c.has('198.51.100.77'));
  assert.ok(c.has('2001:db8::5'));
  assert.ok(!c.has('fe80::1%eth0'));
  c.setResolved(['::ffff:203.0.113.9']);
  assert.ok(c.has('203.0.113.9'));
  c.setResolved([]);
  assert.ok(!c.has('203.0.113.9'));
});
