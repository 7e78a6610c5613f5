// Discovery (spec plugins.md §1): machines booted into the Foreman Discovery Image upload their
// facts through the proxy (POST /discovery/create, unauthenticated: the image has no certificate),
// and Foreman reaches each image's small HTTP API through the proxy (facts, reboot, kexec) when
// the host's subnet names a Discovery proxy. The node-facing routes are Foreman's: trusted_hosts
// and its client certificate.

import { defineModule } from '../../core/module.ts';
import { UPSTREAM_SETTINGS } from '../../core/http/upstream-settings.ts';
import * as setting from '../../core/settings/schema.ts';
import { DISCOVERY_ERRORS } from './errors.ts';
import { parseNetwork } from './node-address.ts';

export const DISCOVERY_SETTINGS = setting.settings({
  node_scheme: setting.oneOf(['https', 'http'] as const, {
    default: 'https',
    description: 'Scheme of the API of a discovered node (the discovery image serves HTTPS with a certificate it makes at boot).',
  }),
  node_port: setting.port({ default: 8443, description: 'Port of the API of a discovered node; the proxy must be allowed to reach it.' }),
  node_verify_tls: setting.boolean({
    default: false,
    extension: true,
    description:
      "Verify the node's TLS certificate and that it names the node's IP address (against node_ssl_ca, else the system CAs). Off by default, as in " +
      'the reference: the discovery image makes a self-signed certificate at boot, so there is nothing to verify it against. The connection is ' +
      'then encrypted but not authenticated.',
  }),
  node_ssl_ca: setting.file({
    extension: true,
    checks: ['readable'],
    example: '/etc/foreman-proxy/discovery_nodes_ca.pem',
    description: 'CA bundle that signed the certificates of the discovery images (when they are given one), used when node_verify_tls is true.',
  }),
  node_networks: setting.list({
    extension: true,
    example: ['192.168.100.0/24', '2001:db8:100::/64'],
    description:
      'Networks (CIDR) the proxy relays Foreman\'s node calls to; others are refused with 403. Unset: any unicast address. The address ' +
      'itself must always be an IP literal.',
  }),
  node_timeout: setting.number({
    default: 18,
    exclusiveMinimum: 0,
    maximum: 600,
    unit: 'seconds',
    extension: true,
    description:
      "Deadline of one call to a node, answer included. Below Foreman's own 20 s, so Foreman gets the proxy's reason instead of its own timeout.",
  }),
  node_concurrency: setting.integer({
    default: 100,
    minimum: 1,
    maximum: 10000,
    extension: true,
    description: 'Calls to nodes at once (a "reboot all" of many discovered hosts); more wait in a queue.',
  }),
  node_queue: setting.integer({
    default: 1000,
    minimum: 0,
    maximum: 1000000,
    extension: true,
    description: 'Node calls allowed to wait for a free slot; beyond that Foreman gets 503 with Retry-After.',
  }),
  ...UPSTREAM_SETTINGS,
});

export type DiscoverySettings = setting.Static<typeof DISCOVERY_SETTINGS>;

export default defineModule({
  name: 'discovery',
  summary:
    'Discovery (/discovery): relays the fact uploads of discovered hosts to Foreman (needs :foreman_url:) and Foreman\'s facts, reboot and ' +
    'kexec calls to the discovered nodes.',
  prefixes: ['/discovery'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  // The discovery image uploads without a certificate and is never in trusted_hosts.
  pathAuthorization: { '/discovery/create': 'none' },
  settings: DISCOVERY_SETTINGS,
  errors: DISCOVERY_ERRORS,
  validate(s) {
    for (const entry of s.node_networks ?? []) {
      const net = parseNetwork(entry);
      if (typeof net === 'string') return { key: 'node_networks', message: `node_networks: ${net}` };
    }
    if (s.node_ssl_ca !== undefined && s.node_ssl_ca !== '' && !s.node_verify_tls) {
      return { key: 'node_ssl_ca', message: 'node_ssl_ca is set but node_verify_tls is false: set node_verify_tls: true to verify nodes against it' };
    }
    return undefined;
  },
  create: async (ctx) => (await import('./api.ts')).discoveryModule(ctx.settings, ctx.global, ctx.log),
});
