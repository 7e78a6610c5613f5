// What travels between host, proxy and upstream (spec content.md §4.1, §4.3). Identity headers a
// host sends are never relayed: Katello takes the consumer identity from X-RHSM-SSL-Client-Cert
// before anything else, and Pulp's cert guard trusts X-CLIENT-CERT, so a host could claim any
// identity if they passed. They are set from the certificate this listener verified instead.

import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { connectionTokens, HOP_BY_HOP_HEADERS } from '../../lib/http/forwarding.ts';

/**
 * Names (lower case, `_` read as `-`, since Rack maps both spellings to one variable) that carry a
 * client identity or a front end's verdict: dropped from every host request.
 */
const IDENTITY_HEADERS = new Set([
  'x-rhsm-ssl-client-cert',
  'ssl-client-cert',
  'x-client-cert',
  'x-ssl-client-cert',
  'ssl-client-s-dn',
  'ssl-client-verify',
  'remote-user',
  'x-remote-user',
]);

/** Identity headers a trusted front end (it verified the certificate itself) may pass on. */
const FRONTEND_IDENTITY_HEADERS = new Set(['x-rhsm-ssl-client-cert', 'x-client-cert']);

/** Describe one connection or are recomputed by the relay; never copied across it. */
const HOP_BY_HOP = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'expect',
  // httpoxy: a `Proxy` header must never look like proxy configuration downstream
  'proxy',
]);

/** Headers the relay sets itself on every upstream request. */
const SET_BY_RELAY = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-server']);

type IncomingHeaders = Record<string, string | string[] | undefined>;

function canonical(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}

export interface RelayHeaderOptions {
  /** The peer is a trusted front end: its identity headers pass. */
  fromTrustedFrontend: boolean;
  /** Header name → value set by the relay (identity, forwarding). */
  set: Record<string, string>;
  /** The host's address, appended to X-Forwarded-For. */
  peer: string;
}

/** The host's headers as they go upstream. */
export function upstreamRequestHeaders(incoming: IncomingHeaders, options: RelayHeaderOptions): Record<string, string> {
  const tokens = connectionTokens(incoming['connection']);
  const out: Record<string, string> = {};
  let forwardedFor: string | undefined;
  for (const [rawName, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    const key = canonical(name);
    if (name.startsWith(':') || HOP_BY_HOP.has(name) || tokens.has(name) || SET_BY_RELAY.has(key)) continue;
    if (IDENTITY_HEADERS.has(key) && !(options.fromTrustedFrontend && FRONTEND_IDENTITY_HEADERS.has(name))) continue;
    const joined = Array.isArray(value) ? value.join(', ') : value;
    if (key === 'x-forwarded-for') {
      if (name === 'x-forwarded-for') forwardedFor = joined;
      continue;
    }
    out[name] = joined;
  }
  out['x-forwarded-for'] = forwardedFor === undefined ? options.peer : `${forwardedFor}, ${options.peer}`;
  for (const [name, value] of Object.entries(options.set)) out[name] = value;
  return out;
}

/** The upstream's response headers as they go to the host. */
export function downstreamResponseHeaders(upstream: IncomingHeaders): Record<string, string | string[]> {
  const tokens = connectionTokens(upstream['connection']);
  const out: Record<string, string | string[]> = {};
  for (const [rawName, value] of Object.entries(upstream)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP.has(name) || tokens.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The verified client certificate of a TLS connection, in the two forms the upstreams read. */
export interface VerifiedCertificate {
  /** PEM with its line breaks turned into spaces: what Apache's mod_headers sends, and Katello reads. */
  readonly apacheForm: string;
  /** URL-encoded PEM: what Pulp's cert guard expects in X-CLIENT-CERT (nginx's $ssl_client_escaped_cert). */
  readonly urlEncoded: string;
}

const NONE = Symbol('no certificate');
// A TLS connection's peer never changes (renegotiation is off): computed once per socket.
const certificates = new WeakMap<Socket, VerifiedCertificate | typeof NONE>();

export function pemOf(der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

export function certificateForms(der: Buffer): VerifiedCertificate {
  const pem = pemOf(der);
  return { apacheForm: pem.trim().split('\n').join(' '), urlEncoded: encodeURIComponent(pem) };
}

/**
 * The certificate the host presented on this connection, when the TLS layer verified it against
 * the listener's CA (chain and validity dates); undefined over HTTP or without one.
 */
export function verifiedClientCertificate(socket: Socket): VerifiedCertificate | undefined {
  const known = certificates.get(socket);
  if (known !== undefined) return known === NONE ? undefined : known;
  const tls = socket as TLSSocket;
  let found: VerifiedCertificate | undefined;
  if (tls.encrypted && tls.authorized && typeof tls.getPeerCertificate === 'function') {
    const cert = tls.getPeerCertificate(false);
    if (cert && Buffer.isBuffer(cert.raw) && cert.raw.length > 0) found = certificateForms(cert.raw);
  }
  certificates.set(socket, found ?? NONE);
  return found;
}

/** What Apache sends in X_RHSM_SSL_CLIENT_CERT without a client certificate; Katello reads it as none. */
export const NO_CERTIFICATE = '(null)';
