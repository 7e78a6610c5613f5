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

function peerCertificate(socket: Socket, https: boolean): PeerCertificate | undefined {
  if (!https) return undefined;
  const cert = (socket as TLSSocket).getPeerCertificate?.();
  return cert && Object.keys(cert).length > 0 ? cert : undefined;
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

export async function authorize(input: AuthInput, global: GlobalSettings): Promise<string | undefined> {
  const cert = peerCertificate(input.socket, input.https);
  if (global.trustedHosts !== null) {
    let identity: string;
    if (input.https) {
      if (!cert) return 'could not read client cert from environment';
      const cn = commonName(cert);
      if (!cn) return 'could not read CN from the client certificate';
      identity = cn;
    } else {
      const r = await httpIdentity(input.socket, global);
      if (r.error !== undefined) return r.error;
      identity = r.identity as string;
    }
    identity = identity.toLowerCase();
    // QUIRK kept from the reference: entries are compared as written, so capitals never match.
    if (!global.trustedHosts.includes(identity)) {
      return `Untrusted client ${identity} attempted to access ${input.subPath}. Check :trusted_hosts: in settings.yml`;
    }
  }
  if (input.https && !cert) return 'No client SSL certificate supplied';
  return undefined;
}
