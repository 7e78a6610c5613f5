// dns_route53: records in Amazon Route 53 hosted zones through the Route 53 API, signed with
// Signature Version 4. The key settings keep the smart_proxy_dns_route53 plugin's names, so its
// dns_route53.yml keeps working; the rest are ours.

import { readFile } from 'node:fs/promises';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { Route53Client } from '../../../../lib/route53/client.ts';
import { DNS_SETTINGS } from '../../module.ts';
import type { DnsProvider } from '../../provider.ts';
import { Route53DnsProvider } from './route53-dns.ts';

export default defineProvider({
  id: 'dns_route53',
  module: 'dns',
  summary:
    'dns_route53: A, AAAA, PTR, CNAME and SRV record sets in Amazon Route 53 hosted zones (the longest zone containing the name), through the Route 53 API with Signature Version 4. Setting names for the keys are those of the smart_proxy_dns_route53 plugin.',
  moduleSettings: DNS_SETTINGS,
  settings: setting.settings({
    aws_access_key: setting.string({ required: true, example: 'AKIAIOSFODNN7EXAMPLE', description: 'Access key id of an IAM user allowed route53:ListHostedZones, ListResourceRecordSets, ChangeResourceRecordSets and GetChange.' }),
    aws_secret_key: setting.string({ required: true, example: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', description: 'Its secret access key (used only to sign requests; never sent or logged).' }),
    endpoint: setting.url({
      default: 'https://route53.amazonaws.com',
      extension: true,
      description: 'Route 53 API endpoint (another partition, e.g. https://route53.amazonaws.com.cn, or a test stand-in).',
    }),
    region: setting.string({
      default: 'us-east-1',
      extension: true,
      description: 'Region the requests are signed for: us-east-1 for the global endpoint (cn-northwest-1 for China, us-gov-west-1 for GovCloud).',
    }),
    wait_for_sync: setting.boolean({
      default: false,
      extension: true,
      description: 'Answer a create or delete only when Route 53 reports the change INSYNC (on all its name servers, usually within a minute); false: as soon as Route 53 accepted it.',
    }),
    timeout: setting.integer({
      default: 30,
      minimum: 1,
      maximum: 600,
      unit: 'seconds',
      extension: true,
      description: 'Time one create or delete (all its API calls, and the wait for INSYNC) may take.',
    }),
    ssl_ca: setting.file({
      checks: ['readable'],
      example: '/etc/foreman-proxy/route53-ca.pem',
      extension: true,
      description: "PEM CA bundle to verify the endpoint's certificate with (default: the system CAs).",
    }),
  }),
  validate(s) {
    if (new URL(s.endpoint).protocol !== 'https:' && !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(s.endpoint)) {
      return { key: 'endpoint', message: 'dns_route53: endpoint must be https:// (plain http only on loopback)' };
    }
    return undefined;
  },
  async create(ctx): Promise<DnsProvider> {
    const s = ctx.settings;
    const ca = s.ssl_ca !== undefined && s.ssl_ca !== '' ? await readFile(s.ssl_ca, 'utf8') : undefined;
    const client = new Route53Client({
      endpoint: s.endpoint,
      accessKeyId: s.aws_access_key,
      secretAccessKey: s.aws_secret_key,
      region: s.region,
      timeoutMs: s.timeout * 1000,
      origin: 'dns_route53',
      ...(ca !== undefined ? { ca } : {}),
      signal: ctx.signal,
    });
    ctx.log.info(`dns_route53: Route 53 API at ${client.endpoint.origin}, region ${s.region}, wait_for_sync ${String(s.wait_for_sync)}`);
    return new Route53DnsProvider({ client, ttl: s.dns_ttl, waitForSync: s.wait_for_sync, log: ctx.log });
  },
});
