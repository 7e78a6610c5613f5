// Validation of the BMC address and credentials before they reach a command line, a config file
// or a URL. The address may carry a port (`name:port`, `[v6]:port`), our extension for BMCs on a
// non-standard port; bare IPv6 addresses have no port.

import { isIPv4, isIPv6 } from 'node:net';
import type { ProxyError } from '../../core/errors.ts';
import { BmcError } from './errors.ts';

export interface BmcAddress {
  /** Host name or IP address without brackets. */
  readonly host: string;
  readonly port: number | undefined;
}

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  return name.split('.').every((l) => LABEL.test(l));
}

function parsePort(s: string, raw: string): number {
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw invalidHost(raw);
  return Number(s);
}

function invalidHost(raw: string): ProxyError {
  return BmcError.invalid_host(`Invalid BMC host ${JSON.stringify(raw)}: expected a host name or IP address`);
}

export function parseBmcAddress(raw: string): BmcAddress {
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) throw invalidHost(raw);
    const host = raw.slice(1, close);
    const rest = raw.slice(close + 1);
    if (!isIPv6(host)) throw invalidHost(raw);
    if (rest === '') return { host, port: undefined };
    if (!rest.startsWith(':')) throw invalidHost(raw);
    return { host, port: parsePort(rest.slice(1), raw) };
  }
  if (isIPv6(raw)) return { host: raw, port: undefined };
  const colon = raw.lastIndexOf(':');
  const host = colon >= 0 ? raw.slice(0, colon) : raw;
  const port = colon >= 0 ? parsePort(raw.slice(colon + 1), raw) : undefined;
  if (!isIPv4(host) && !(isHostname(host) && !/^[0-9.]+$/.test(host))) throw invalidHost(raw);
  return { host, port };
}

/** `host`, `host:port` or `[v6]:port`, for URLs and for tools that take the host:port form. */
export function formatAddress(a: BmcAddress): string {
  const h = a.host.includes(':') ? `[${a.host}]` : a.host;
  return a.port === undefined ? h : `${h}:${a.port}`;
}

// Control characters would let a credential inject lines into FreeIPMI's config file or confuse a
// tool's parser; no real BMC account uses them.
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkCredential(field: 'username' | 'password', value: string): void {
  if (CONTROL.test(value)) {
    throw BmcError.invalid_credentials(`Invalid BMC ${field}: control characters (such as newlines) are not allowed`);
  }
  if (value.length > 256) throw BmcError.invalid_credentials(`Invalid BMC ${field}: longer than 256 characters`);
}
