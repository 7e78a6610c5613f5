// Authorization of control-plane requests (spec README §5): trusted_hosts by client-certificate CN
// over HTTPS, by reverse-then-forward DNS of the TCP peer over HTTP, then client-certificate
// presence over HTTPS. Returns the 403 message, or undefined when the request may proceed.

import { lookup, lookupService } from 'node:dns/promises';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import type { Socket } from 'node:net';
import type { GlobalSettings } from '../settings/global.ts';
import { AddressList } from '../../lib/net/address-list.ts';

export interface AuthInput {
  socket: Socket;
  https: boolean;
  /** Path below the module prefix, for the untrusted-client message. */
  subPath: string;
  /**
   * The request's headers: from a trusted front end (`FrontEnds`), X-Client-Certificate-CN names
   * the caller checked against trusted_hosts. Left out, the TLS peer is the caller.
   */
  headers?: Record<string, string | string[] | undefined>;
}

interface TlsPeer {
  present: boolean;
  cn: string | undefined;
  /** The certificate as DER (what a front end passes on whole). */
  der: Buffer | undefined;
}

// getPeerCertificate() rebuilds the certificate object on every call, which dominated the cost of
// a keep-alive request; a TLS connection's peer never changes (renegotiation is off), so the
// answer is kept per socket.
const peers = new WeakMap<Socket, TlsPeer>();

function tlsPeer(socket: Socket): TlsPeer {
  let peer = peers.get(socket);
  if (!peer) {
    const cert = (socket as TLSSocket).getPeerCertificate?.();
    const present = !!cert && Object.keys(cert).length > 0;
    peer = { present, cn: present ? commonName(cert) : undefined, der: present && Buffer.isBuffer(cert.raw) && cert.raw.length > 0 ? cert.raw : undefined };
    peers.set(socket, peer);
  }
  return peer;
}

/**
 * Paths that identify the caller by its own client certificate instead of trusted_hosts (pull
 * hosts fetching their jobs): the CN, or the 403 message. Over HTTP there is no certificate.
 */
export function clientCertificateIdentity(socket: Socket, https: boolean): { cn: string } | { denied: string } {
  if (!https) return { denied: 'could not read client cert from environment' };
  const peer = tlsPeer(socket);
  if (!peer.present) return { denied: 'could not read client cert from environment' };
  if (!peer.cn) return { denied: 'could not read CN from the client certificate' };
  return { cn: peer.cn };
}

/** The DER certificate a TLS client presented and Node verified; undefined otherwise. */
export function verifiedClientCertificateDer(socket: Socket): Buffer | undefined {
  return (socket as TLSSocket).authorized === true ? tlsPeer(socket).der : undefined;
}

/**
 * The header in which a front end (the router) names the CN of the certificate its caller
 * presented, empty when the caller presented none. Absent, the front end calls for itself (its
 * health checks). Believed only from a front end (`FrontEnds`); the router drops a client's own.
 */
export const CLIENT_CERTIFICATE_CN_HEADER = 'x-client-certificate-cn';

/** What a CN may look like in that header: `commonName`'s result, bounded. */
const FORWARDED_CN = /^[^\s/,\x00-\x1f\x7f]{1,255}$/;

/**
 * Front ends whose word on the caller's certificate is taken: a peer listed in settings.yml
 * `trusted_proxies` that is itself authenticated by a verified client certificate whose CN is in
 * `trusted_hosts`. Both, because loopback and shared subnets make an address alone weak, and a
 * host's own certificate (valid, but not in trusted_hosts) must never vouch for another host.
 * Without trusted_hosts (everyone with a certificate is trusted) no one can vouch.
 */
export class FrontEnds {
  private readonly addresses: AddressList;
  private readonly trustedHosts: readonly string[] | null;

  constructor(global: Pick<GlobalSettings, 'trustedProxies' | 'trustedHosts'>) {
    this.addresses = new AddressList(global.trustedProxies);
    this.trustedHosts = global.trustedHosts;
  }

  vouches(socket: Socket, https: boolean): boolean {
    if (!https || this.addresses.empty || this.trustedHosts === null || (socket as TLSSocket).authorized !== true) return false;
    const remote = socket.remoteAddress;
    if (remote === undefined || !this.addresses.has(normaliseIp(remote))) return false;
    const cn = tlsPeer(socket).cn;
    return cn !== undefined && this.trustedHosts.includes(cn.toLowerCase());
  }

  /**
   * The caller a vouching front end names: undefined when it names none (it calls for itself),
   * else the CN or the 403 message.
   */
  named(headers: Record<string, string | string[] | undefined>): { cn: string } | { denied: string } | undefined {
    const named = headers[CLIENT_CERTIFICATE_CN_HEADER];
    if (named === undefined) return undefined;
    if (named === '') return { denied: 'could not read client cert from environment' };
    if (typeof named !== 'string' || !FORWARDED_CN.test(named)) return { denied: `the front end sent an invalid ${CLIENT_CERTIFICATE_CN_HEADER} header` };
    return { cn: named };
  }
}

// One FrontEnds per settings object (a reload makes a new one): authorize() runs per request.
const frontEndsOf = new WeakMap<object, FrontEnds>();

export function frontEnds(global: Pick<GlobalSettings, 'trustedProxies' | 'trustedHosts'>): FrontEnds {
  let f = frontEndsOf.get(global);
  if (!f) {
    f = new FrontEnds(global);
    frontEndsOf.set(global, f);
  }
  return f;
}

/**
 * The caller's certificate CN for paths that identify hosts by their own certificate: the one a
 * trusted front end names in X-Client-Certificate-CN, else the TLS peer's own.
 */
export function callerCertificateIdentity(
  req: { socket: Socket; headers: Record<string, string | string[] | undefined> },
  https: boolean,
  global: Pick<GlobalSettings, 'trustedProxies' | 'trustedHosts'>,
): { cn: string } | { denied: string } {
  const f = frontEnds(global);
  return (f.vouches(req.socket, https) ? f.named(req.headers) : undefined) ?? clientCertificateIdentity(req.socket, https);
}

/** First CN of the subject, cut at a space, `/` or `,` as the reference does. */
export function commonName(cert: PeerCertificate): string | undefined {
  const cn = (cert.subject as unknown as Record<string, string | string[]> | undefined)?.CN;
  const first = Array.isArray(cn) ? cn[0] : cn;
  if (!first) return undefined;
  return first.split(/[ /,]/)[0] || undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

async function httpIdentity(socket: Socket, global: GlobalSettings): Promise<{ identity?: string; error?: string }> {
  const ip = normaliseIp(socket.remoteAddress ?? '');
  if (ip.includes('%')) return { identity: ip };
  const budget = global.dnsResolvTimeouts.reduce((a, b) => a + b, 0) * 1000;
  let fqdn: string;
  try {
    fqdn = (await withTimeout(lookupService(ip, 0), budget, 'reverse lookup')).hostname;
    if (!fqdn || fqdn === ip) throw new Error('no name found');
  } catch (err) {
    return { error: `unable to resolve hostname for ip address ${ip}\n\n${(err as Error).message}` };
  }
  if (global.forwardVerify) {
    let addrs: { address: string }[];
    try {
      addrs = await withTimeout(lookup(fqdn, { all: true }), budget, 'forward lookup');
    } catch (err) {
      return { error: `could not forward verify the remote hostname - ${fqdn} (${ip})\n\n${(err as Error).message}` };
    }
    if (!addrs.some((a) => normaliseIp(a.address) === ip)) {
      return { error: `untrusted client has no matching forward DNS lookup - ${fqdn} (${ip})` };
    }
  }
  return { identity: fqdn };
}

/**
 * The 403 message, or undefined when the request may proceed. Synchronous except for HTTP peers
 * under trusted_hosts, whose DNS names must be resolved.
 */
export function authorize(input: AuthInput, global: GlobalSettings): string | undefined | Promise<string | undefined> {
  if (input.headers !== undefined) {
    const f = frontEnds(global);
    const named = f.vouches(input.socket, input.https) ? f.named(input.headers) : undefined;
    if (named !== undefined) return 'denied' in named ? named.denied : checkTrusted(named.cn, input.subPath, global);
  }
  const peer = input.https ? tlsPeer(input.socket) : undefined;
  if (global.trustedHosts === null) return peer && !peer.present ? 'No client SSL certificate supplied' : undefined;
  if (!peer) {
    return httpIdentity(input.socket, global).then((r) => (r.error !== undefined ? r.error : checkTrusted(r.identity as string, input.subPath, global)));
  }
  if (!peer.present) return 'could not read client cert from environment';
  if (!peer.cn) return 'could not read CN from the client certificate';
  return checkTrusted(peer.cn, input.subPath, global);
}

function checkTrusted(rawIdentity: string, subPath: string, global: GlobalSettings): string | undefined {
  const identity = rawIdentity.toLowerCase();
  // QUIRK kept from the reference: entries are compared as written, so capitals never match.
  if (!(global.trustedHosts as readonly string[]).includes(identity)) {
    return `Untrusted client ${identity} attempted to access ${subPath}. Check :trusted_hosts: in settings.yml`;
  }
  return undefined;
}
