// Admission of new connections to a listening socket, so that one client cannot take every slot:
//
// - a peer (remote IP address) holds at most `maxPerPeer` connections;
// - the last `reserved` slots below `maxConnections` go only to control peers (listed addresses,
//   foreman_url's host) and to peers that have no other connection: a flood from a few addresses
//   cannot take them, Foreman and new clients still get in;
// - from the reserve threshold on, the connection idle the longest (no request in flight) is
//   closed for each new one, before anything is refused.
//
// All of it is bookkeeping in memory: the accept path never waits for DNS or anything else.

import { AddressList } from '../../lib/net/address-list.ts';
import { clientAddress as peerAddress } from '../../lib/http/forwarding.ts';

export interface AdmissionLimits {
  /** Open connections at most. */
  readonly maxConnections: number;
  /** Open connections one peer may hold; control peers are exempt. */
  readonly maxPerPeer: number;
  /** Slots below maxConnections kept for control peers and for peers with no open connection. */
  readonly reserved: number;
}

export type Refusal = 'peer-limit' | 'full' | 'reserve';

interface Tracked {
  readonly peer: string;
  inFlight: number;
}

/** Tracks the open connections of one listening socket and decides on new ones. */
export class ConnectionGuard<C extends { destroy(): void }> {
  private readonly tracked = new Map<C, Tracked>();
  /** Connections with no request in flight; a Set iterates in insertion order: longest idle first. */
  private readonly idle = new Set<C>();
  private readonly perPeer = new Map<string, number>();
  private readonly limits: AdmissionLimits;
  private readonly isControlPeer: (peer: string) => boolean;
  /** Idle connections closed to make room, since start. */
  reaped = 0;

  constructor(limits: AdmissionLimits, isControlPeer: (peer: string) => boolean) {
    this.limits = limits;
    this.isControlPeer = isControlPeer;
  }

  get open(): number {
    return this.tracked.size;
  }

  connectionsOf(peer: string): number {
    return this.perPeer.get(peer) ?? 0;
  }

  /**
   * Admit `conn` from `peer` (then it is tracked until release()), or say why it is refused; the
   * caller closes a refused connection. Idle connections may be closed here to make room.
   */
  admit(conn: C, peer: string): Refusal | undefined {
    const control = this.isControlPeer(peer);
    if (!control && this.connectionsOf(peer) >= this.limits.maxPerPeer) return 'peer-limit';
    const threshold = this.limits.maxConnections - this.limits.reserved;
    // Early: in the reserve zone every new connection displaces the longest-idle one, which keeps
    // the reserve free for as long as there are idle connections to close.
    if (this.tracked.size >= threshold) this.reapOne();
    const mayUseReserve = control || this.connectionsOf(peer) === 0;
    const limit = mayUseReserve ? this.limits.maxConnections : threshold;
    while (this.tracked.size >= limit && this.reapOne()) {
      // each turn closed one idle connection
    }
    if (this.tracked.size >= this.limits.maxConnections) return 'full';
    if (this.tracked.size >= threshold && !mayUseReserve) return 'reserve';
    this.tracked.set(conn, { peer, inFlight: 0 });
    this.idle.add(conn);
    this.perPeer.set(peer, this.connectionsOf(peer) + 1);
    return undefined;
  }

  /** Forget `conn`; true the first time, false after (a socket may report its end twice). */
  release(conn: C): boolean {
    const t = this.tracked.get(conn);
    if (!t) return false;
    this.tracked.delete(conn);
    this.idle.delete(conn);
    const left = this.connectionsOf(t.peer) - 1;
    if (left > 0) this.perPeer.set(t.peer, left);
    else this.perPeer.delete(t.peer);
    return true;
  }

  requestStarted(conn: C): void {
    const t = this.tracked.get(conn);
    if (!t) return;
    t.inFlight++;
    this.idle.delete(conn);
  }

  requestFinished(conn: C): void {
    const t = this.tracked.get(conn);
    if (!t || t.inFlight === 0) return;
    t.inFlight--;
    if (t.inFlight === 0) this.idle.add(conn); // newly idle: last in the reaping order
  }

  private reapOne(): boolean {
    const first = this.idle.values().next();
    if (first.done) return false;
    const conn = first.value;
    this.release(conn);
    this.reaped++;
    conn.destroy();
    return true;
  }
}

/**
 * Addresses allowed into the reserve and exempt from the per-peer limit: the `control_peers`
 * entries (addresses or subnets, checked by the settings loader) and the current addresses of foreman_url's host, which are
 * resolved in the background and handed in with setResolved().
 */
export class ControlPeers {
  private readonly listed: AddressList;
  private resolved: ReadonlySet<string> = new Set();

  constructor(entries: readonly string[]) {
    this.listed = new AddressList(entries);
  }

  setResolved(addresses: Iterable<string>): void {
    this.resolved = new Set([...addresses].map(peerAddress));
  }

  has(peer: string): boolean {
    return this.resolved.has(peer) || this.listed.has(peer);
  }
}
