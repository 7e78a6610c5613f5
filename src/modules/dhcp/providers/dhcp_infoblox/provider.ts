// `use_provider: dhcp_infoblox`: an Infoblox grid through its WAPI. Setting names and defaults
// follow the Foreman plugin smart_proxy_dhcp_infoblox, so its dhcp_infoblox.yml keeps working;
// the grid master is dhcp.yml's `server`, as in the plugin.

import { readFile } from 'node:fs/promises';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { WAPI_SETTINGS } from '../../../../lib/infoblox/settings.ts';
import { WapiClient, wapiBaseUrl } from '../../../../lib/infoblox/wapi.ts';
import { DHCP_SETTINGS } from '../../module.ts';
import { probeAlive } from '../../unused-ip.ts';
import { InfobloxDhcpProvider, type DhcpOption } from './infoblox-dhcp.ts';

/** The `options` setting: a list of `{name, num, value, vendor_class}` maps; the message names the entry. */
export function checkDhcpOptions(value: unknown): { options: DhcpOption[] } | { error: string } {
  if (value === null || value === undefined || value === '') return { options: [] };
  if (!Array.isArray(value)) return { error: 'options must be a list of {name, num, value, vendor_class} maps' };
  const options: DhcpOption[] = [];
  for (const [i, o] of value.entries()) {
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return { error: `options[${i}] must be a map with name, num, value and vendor_class` };
    const e = o as Record<string, unknown>;
    const unknownKey = Object.keys(e).find((k) => !['name', 'num', 'value', 'vendor_class'].includes(k));
    if (unknownKey) return { error: `options[${i}] has an unknown key '${unknownKey}' (allowed: name, num, value, vendor_class)` };
    if (e.name === undefined && e.num === undefined) return { error: `options[${i}] needs a name or a num` };
    if (e.num !== undefined && !(Number.isInteger(e.num) && (e.num as number) >= 0 && (e.num as number) <= 255)) return { error: `options[${i}].num must be an integer 0-255` };
    for (const k of ['name', 'value', 'vendor_class'] as const) {
      if (e[k] !== undefined && typeof e[k] !== 'string' && typeof e[k] !== 'number') return { error: `options[${i}].${k} must be a string` };
    }
    const opt: DhcpOption = {};
    if (e.name !== undefined) opt.name = String(e.name);
    if (e.num !== undefined) opt.num = e.num as number;
    if (e.value !== undefined) opt.value = String(e.value);
    if (e.vendor_class !== undefined) opt.vendor_class = String(e.vendor_class);
    options.push(opt);
  }
  return { options };
}

export default defineProvider({
  id: 'dhcp_infoblox',
  module: 'dhcp',
  summary:
    "dhcp_infoblox: an Infoblox grid through its WAPI over HTTPS with basic authentication (grid master: dhcp.yml's server). Subnets are network objects, reservations fixedaddress or record:host objects (record_type), leases lease objects; unused_ip asks the network's next_available_ip. Every change is followed by a grid restart. Setting names are those of the smart_proxy_dhcp_infoblox plugin.",
  moduleSettings: DHCP_SETTINGS,
  settings: setting.settings({
    username: setting.string({ required: true, example: 'admin', description: 'WAPI user; it needs the DHCP role (and DNS for record_type host).' }),
    password: setting.string({ required: true, example: 'infoblox', description: "The WAPI user's password (sent only in the Authorization header, never logged)." }),
    record_type: setting.oneOf(['fixedaddress', 'host'], {
      default: 'fixedaddress',
      description:
        "What a reservation is: 'fixedaddress' (a DHCP fixed address in network_view) or 'host' (a host record in dns_view that also makes its DNS records; it conflicts with the dns_infoblox provider managing the same names).",
    }),
    used_ips_search_type: setting.oneOf(['record_type', 'used'], {
      default: 'record_type',
      description:
        "What counts as a reservation in listings and as taken for unused_ip: 'record_type' (objects of record_type) or 'used' (every address Infoblox reports USED: hosts, DNS records, leases…; those without a MAC show 00:00:00:00:00:00).",
    }),
    network_view: setting.string({ default: 'default', description: 'Network view of networks, fixed addresses and leases.' }),
    dns_view: setting.string({ default: 'default', description: "DNS view of host records (record_type host); custom views are usually named 'default.<view>'." }),
    wait_after_restart: setting.integer({
      default: 10,
      minimum: 0,
      maximum: 300,
      unit: 'seconds',
      description: 'Wait after each grid restart (every create and delete restarts the grid services); raise Foreman\'s timeouts to match. 0: no wait.',
    }),
    options: setting.any({
      default: [],
      description: 'DHCP options added to every fixed address: a list of maps with name, num, value and vendor_class (record_type fixedaddress only).',
    }),
    blacklist_duration_minutes: setting.integer({
      default: 1800,
      minimum: 0,
      unit: 'seconds',
      description: 'How long a suggested free address is withheld from further unused_ip suggestions. Seconds despite the name, as in the core DHCP providers.',
    }),
    timeout: setting.integer({
      default: 30,
      minimum: 1,
      maximum: 600,
      unit: 'seconds',
      extension: true,
      description: 'Deadline of each backend operation: a listing, a lookup, or a change together with its grid restart (the wait_after_restart pause not counted). Foreman waits 60 s for a whole request, which may run a lookup or two before a change.',
    }),
    ...WAPI_SETTINGS,
  }),
  validate(s) {
    const checked = checkDhcpOptions(s.options);
    if ('error' in checked) return { key: 'options', message: `dhcp_infoblox: ${checked.error}` };
    try {
      wapiBaseUrl(s.server, s.wapi_version);
    } catch (err) {
      return { key: 'server', message: `dhcp_infoblox: dhcp.yml server is not a host name or URL: ${(err as Error).message}` };
    }
    return undefined;
  },
  async create(ctx) {
    const s = ctx.settings;
    const ca = s.ssl_ca !== undefined && s.ssl_ca !== '' ? await readFile(s.ssl_ca, 'utf8') : undefined;
    // The plugin's one way to turn verification off; kept so existing set-ups keep working.
    const verify = !process.env.FOREMAN_INFOBLOX_NOSSLVERIFY;
    if (!verify) ctx.log.warn('dhcp_infoblox: FOREMAN_INFOBLOX_NOSSLVERIFY is set: the grid master\'s certificate is NOT verified (prefer ssl_ca)');
    const checked = checkDhcpOptions(s.options);
    const wapi = new WapiClient({
      server: s.server,
      username: s.username,
      password: s.password,
      wapiVersion: s.wapi_version,
      timeoutMs: s.timeout * 1000,
      concurrency: s.wapi_concurrency,
      verify,
      origin: 'dhcp_infoblox',
      ...(ca !== undefined ? { ca } : {}),
      signal: ctx.signal,
    });
    ctx.log.info(`dhcp_infoblox: WAPI at ${wapi.base.href} as ${s.username}, record_type ${s.record_type}, network view ${s.network_view}`);
    return new InfobloxDhcpProvider({
      wapi,
      recordType: s.record_type,
      usedIpsSearchType: s.used_ips_search_type,
      networkView: s.network_view,
      dnsView: s.dns_view,
      waitAfterRestartMs: s.wait_after_restart * 1000,
      options: 'options' in checked ? checked.options : [],
      managedSubnets: s.subnets,
      holdMs: s.blacklist_duration_minutes * 1000,
      ...(s.ping_free_ip ? { probe: probeAlive } : {}),
      log: ctx.log,
    });
  },
});
