// Authorization of control-plane requests (spec README §5): trusted_hosts by client-certificate CN
// over HTTPS, by reverse-then-forward DNS of the TCP peer over HTTP, then client-certificate
// presence over HTTPS. Returns the 403 message, or undefined when the request may proceed.

import { lookup, lookupService } from 'node:dns/promises';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import type { Socket } from 'node:net';
import type { GlobalSettings } from '../settings/global.ts';

export interface AuthInput {
  socket: Socket;
  https: boolean;
  /** Path below the module prefix, for the untrusted-client message. */
  subPath: string;
}

interface TlsPeer {
  present: boolean;
  cn: string | undefined;
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
    peer = { present, cn: present ? commonName(cert) : undefined };
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
