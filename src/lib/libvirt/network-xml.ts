// A libvirt network's XML (`virsh net-dumpxml`), reduced to what the DNS and DHCP providers use:
// the IPv4 <ip> elements with their DHCP ranges and hosts, and the <dns><host> entries. Parsed with
// fast-xml-parser; libvirt writes this document itself, so a shape it never writes (a <network>
// missing, an <ip> without an address) is reported as an error rather than guessed around.

import { XMLParser } from 'fast-xml-parser';

export interface DhcpHostEntry {
  mac?: string;
  ip?: string;
  name?: string;
}

export interface Ipv4Block {
  /** The bridge's own address (the gateway of the network). */
  address: string;
  /** Dotted netmask, from `netmask=` or computed from `prefix=`. */
  netmask: string;
  /** `<dhcp><range start end>` in document order. */
  ranges: Array<{ start: string; end: string }>;
  hosts: DhcpHostEntry[];
}

export interface DnsHostEntry {
  ip: string;
  hostnames: string[];
}

export interface NetworkXml {
  name: string;
  /** `<forward>` present: the network routes or NATs, so its address is a router for guests. */
  forwards: boolean;
  /** `<domain name=…>`, if any. */
  domain?: string;
  /** `<dns enable='no'>` turns libvirt's DNS server off. */
  dnsEnabled: boolean;
  ipv4: Ipv4Block[];
  dnsHosts: DnsHostEntry[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  // Elements that may repeat are always arrays, so a single one needs no special case.
  isArray: (name) => ['ip', 'range', 'host', 'hostname'].includes(name),
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
});

type XmlNode = Record<string, unknown>;

const asNode = (v: unknown): XmlNode | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as XmlNode) : undefined);
const asNodes = (v: unknown): XmlNode[] => (Array.isArray(v) ? v.map(asNode).filter((n): n is XmlNode => n !== undefined) : []);
const attr = (n: XmlNode | undefined, name: string): string | undefined => {
  const v = n?.[`@${name}`];
  return typeof v === 'string' ? v : undefined;
};
/** Text of an element that may also carry attributes (`{ '#text': … }`). */
const text = (v: unknown): string | undefined => {
  if (typeof v === 'string') return v;
  const t = asNode(v)?.['#text'];
  return typeof t === 'string' ? t : undefined;
};

/** Dotted netmask of a prefix length 0–32. */
export function netmaskOfPrefix(prefix: number): string {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.');
}

const isIpv4Text = (s: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

export function parseNetworkXml(xml: string): NetworkXml {
  let doc: XmlNode;
  try {
    doc = parser.parse(xml, true) as XmlNode;
  } catch (err) {
    throw new Error(`not well-formed XML: ${(err as Error).message}`);
  }
  const net = asNode(doc.network);
  if (!net) throw new Error('no <network> element');
  const name = text(net.name) ?? '';
  const ipv4: Ipv4Block[] = [];
  for (const ip of asNodes(net.ip)) {
    const family = attr(ip, 'family');
    const address = attr(ip, 'address');
    if (family === 'ipv6' || (family === undefined && address !== undefined && address.includes(':'))) continue;
    if (address === undefined || !isIpv4Text(address)) throw new Error(`<ip> without an IPv4 address: ${JSON.stringify(address ?? null)}`);
    let netmask = attr(ip, 'netmask');
    if (netmask === undefined) {
      const prefix = Number(attr(ip, 'prefix') ?? '24'); // libvirt's default for IPv4 without either
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`<ip address='${address}'> has a bad prefix`);
      netmask = netmaskOfPrefix(prefix);
    }
    const dhcp = asNode(ip.dhcp);
    const ranges = asNodes(dhcp?.range).flatMap((r) => {
      const start = attr(r, 'start');
      const end = attr(r, 'end');
      return start !== undefined && end !== undefined ? [{ start, end }] : [];
    });
    const hosts = asNodes(dhcp?.host).map((h) => {
      const entry: DhcpHostEntry = {};
      const mac = attr(h, 'mac');
      const hip = attr(h, 'ip');
      const hname = attr(h, 'name');
      if (mac !== undefined) entry.mac = mac.toLowerCase();
      if (hip !== undefined) entry.ip = hip;
      if (hname !== undefined) entry.name = hname;
      return entry;
    });
    ipv4.push({ address, netmask, ranges, hosts });
  }
  const dns = asNode(net.dns);
  const dnsHosts = asNodes(dns?.host).flatMap((h) => {
    const ip = attr(h, 'ip');
    if (ip === undefined) return [];
    const hostnames = (Array.isArray(h.hostname) ? h.hostname : []).map(text).filter((s): s is string => s !== undefined && s !== '');
    return [{ ip, hostnames }];
  });
  const result: NetworkXml = {
    name,
    forwards: net.forward !== undefined,
    dnsEnabled: attr(dns, 'enable') !== 'no',
    ipv4,
    dnsHosts,
  };
  const domain = attr(asNode(net.domain), 'name');
  if (domain !== undefined) result.domain = domain;
  return result;
}

/** Escape a value for an XML attribute or text node. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** `<host mac ip name/>` of section ip-dhcp-host (libvirt matches a delete on every attribute given). */
export function dhcpHostXml(h: DhcpHostEntry): string {
  const attrs = (['mac', 'ip', 'name'] as const).flatMap((k) => (h[k] === undefined ? [] : [`${k}="${xmlEscape(h[k])}"`]));
  return `<host ${attrs.join(' ')}/>`;
}

/** `<host ip><hostname>…</hostname>…</host>` of section dns-host (libvirt matches entries by ip). */
export function dnsHostXml(h: DnsHostEntry): string {
  return `<host ip="${xmlEscape(h.ip)}">${h.hostnames.map((n) => `<hostname>${xmlEscape(n)}</hostname>`).join('')}</host>`;
}
