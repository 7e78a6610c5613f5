// Request validation of the DNS API (spec dns.md §1.1, §1.2), with the reference's messages.

import { DnsError } from './errors.ts';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../lib/dns/ip.ts';
import { RECORD_TYPES, type DnsRecordType } from './provider.ts';

/**
 * The reference's name rule: labels of letters, digits and hyphens (plus `_` for SRV), a label
 * never starts with a hyphen, dots between labels, one optional trailing dot. Checked label by
 * label (no backtracking regex), plus the wire limits a name must fit anyway.
 */
export function isDnsName(name: string, srv = false): boolean {
  if (name.length === 0 || name.length > 254) return false;
  const body = name.endsWith('.') ? name.slice(0, -1) : name;
  if (body.length === 0 || body.length > 253) return false;
  const first = srv ? /^[A-Za-z0-9_]$/ : /^[A-Za-z0-9]$/;
  const rest = srv ? /^[-A-Za-z0-9_]*$/ : /^[-A-Za-z0-9]*$/;
  for (const label of body.split('.')) {
    if (label.length === 0 || label.length > 63) return false;
    if (!first.test(label[0]) || !rest.test(label.slice(1))) return false;
  }
  return true;
}

export function isReverseName(name: string): boolean {
  return name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa');
}

export function validateName(name: string, type: string): void {
  if (type === 'SRV') {
    if (!isDnsName(name, true)) throw DnsError.invalid_name(`Invalid DNS srv name ${name}`);
  } else if (!isDnsName(name)) {
    throw DnsError.invalid_name(`Invalid DNS name ${name}`);
  }
}

export function validateReverseName(name: string): void {
  validateName(name, 'PTR');
  if (!isReverseName(name)) throw DnsError.invalid_reverse(`Invalid reverse DNS ${name}`);
}

function normalizeIp(value: string, family: 4 | 6): string {
  const v4 = parseIPv4(value);
  const v6 = v4 ? null : parseIPv6(value);
  if (family === 4) {
    if (v4) return formatIPv4(v4);
    if (v6) throw DnsError.invalid_value(`address family mismatch: ${value}`);
  } else {
    if (v6) return formatIPv6(v6);
    if (v4) throw DnsError.invalid_value(`address family mismatch: ${value}`);
  }
  throw DnsError.invalid_value(`invalid address: ${value}`);
}

function srvNumber(s: string | undefined, min: number): number | undefined {
  if (s === undefined || !/^[0-9]{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= 65535 ? n : undefined;
}

export function validateSrvValue(value: string): string {
  const parts = value.trim().split(/\s+/);
  const [priority, weight, port, target] = parts;
  const bad = (): never => {
    throw DnsError.invalid_value(`Invalid DNS SRV value ${value}`);
  };
  // the reference's target check raises inside the same rescue, so it gets this message too
  if (target === undefined || !isDnsName(target, true)) bad();
  if (parts.length !== 4 || srvNumber(priority, 0) === undefined || srvNumber(weight, 0) === undefined || srvNumber(port, 1) === undefined) {
    bad();
  }
  return `${Number(priority)} ${Number(weight)} ${Number(port)} ${target}`;
}

export interface CreateRequest {
  type: DnsRecordType;
  fqdn: string;
  value: string;
}

/** POST /dns: check in the reference's order and normalise addresses. */
export function validateCreate(fqdn: unknown, value: unknown, type: unknown): CreateRequest {
  if (typeof fqdn !== 'string' || typeof value !== 'string' || typeof type !== 'string') {
    throw DnsError.missing_params("'create' requires fqdn, value, and type parameters");
  }
  const t = type.toUpperCase();
  validateName(fqdn, t);
  switch (t) {
    case 'A':
      return { type: 'A', fqdn, value: normalizeIp(value, 4) };
    case 'AAAA':
      return { type: 'AAAA', fqdn, value: normalizeIp(value, 6) };
    case 'CNAME':
      validateName(value, t);
      return { type: 'CNAME', fqdn, value };
    case 'PTR':
      validateReverseName(value);
      return { type: 'PTR', fqdn, value };
    case 'SRV':
      return { type: 'SRV', fqdn, value: validateSrvValue(value) };
    default:
      throw DnsError.invalid_type(`unrecognized 'type' parameter: ${t}`);
  }
}

/** DELETE /dns/:value[/:type]: the type is case-sensitive here and defaults from the name. */
export function validateRemove(name: string, type: string | undefined): { type: DnsRecordType; name: string } {
  const t = type ?? (isReverseName(name) ? 'PTR' : 'A');
  validateName(name, t);
  if (!(RECORD_TYPES as readonly string[]).includes(t)) {
    throw DnsError.invalid_type(`unrecognized 'type' parameter: ${t}`);
  }
  if (t === 'PTR') validateReverseName(name);
  return { type: t as DnsRecordType, name };
}
