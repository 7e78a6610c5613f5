// The openscap module (spec plugins.md §2): hosts upload bzip2'd ARF compliance reports, the proxy
// parses them in one streaming pass, keeps the original and forwards the JSON summary to Foreman
// through a durable spool that retries on its own; hosts download SCAP content and tailoring
// files; Foreman asks for stored reports, their HTML rendering, profiles and validation.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { spoolSettings } from '../../lib/spool/settings.ts';

export const OPENSCAP_SETTINGS = setting.settings({
  spooldir: setting.string({ default: '/var/spool/foreman-proxy/openscap', description: 'Reports not yet accepted by Foreman: the spool database and the originals waiting for their Foreman id.' }),
  reportsdir: setting.string({ default: '/var/lib/foreman-proxy/openscap/reports', description: 'Stored originals, as <reportsdir>/arf/<cname>/<id>/<date>/<digest>.' }),
  failed_dir: setting.string({ default: '/var/lib/foreman-proxy/openscap/failed', description: 'Originals accepted by Foreman that could not be stored in reportsdir.' }),
  corrupted_dir: setting.string({
    default: '/var/lib/foreman-proxy/openscap/corrupted',
    description: 'Uploads that are not a readable ARF report. The reference has no default (writes then fail); this is the installer value.',
  }),
  contentdir: setting.string({ default: '/var/lib/foreman-proxy/openscap/content', description: 'Cached SCAP content per policy.' }),
  tailoring_dir: setting.string({ default: '/var/lib/foreman-proxy/openscap/tailoring', description: 'Cached tailoring files per policy.' }),
  openscap_send_log_file: setting.string({
    default: '/var/log/foreman-proxy/openscap-send.log',
    description: 'Log of the reference\'s cron spool script. Accepted for compatibility; the built-in forwarder logs to the proxy log.',
  }),
  timeout: setting.number({ default: 60, exclusiveMinimum: 0, maximum: 3600, unit: 'seconds', description: 'Read timeout of calls to Foreman.' }),
  registered_proxy_name: setting.string({ description: 'Sent to Foreman with each report to identify this proxy (behind a load balancer).' }),
  registered_proxy_url: setting.string({ description: 'Sent to Foreman with each report to identify this proxy, when the name is not set.' }),
  upload_wait: setting.number({
    default: 10,
    minimum: 0,
    maximum: 600,
    unit: 'seconds',
    extension: true,
    description: "How long an upload waits for Foreman's answer once the report is spooled; after that (or at once while Foreman is down) the host gets 202 and the report is delivered later.",
  }),
  ...spoolSettings({ default: 4 * 1024 * 1024 * 1024, description: 'Most bytes of parsed summaries held in the spool database; uploads beyond it get 503.' }),
  parse_concurrency: setting.integer({ default: 4, minimum: 1, maximum: 256, extension: true, description: 'Reports decompressed and parsed at once; further uploads wait.' }),
  max_report_size: setting.integer({
    default: 64 * 1024 * 1024,
    minimum: 1024,
    unit: 'bytes',
    extension: true,
    description: 'Largest compressed upload accepted (the decompressed report is streamed and may be much larger).',
  }),
});

export default defineModule({
  name: 'openscap',
  summary: 'OpenSCAP (/compliance): ARF report upload, parsing and spooled forwarding to Foreman, SCAP content downloads.',
  prefixes: ['/compliance'],
  audience: 'foreman',
  authorize: true,
  apiDocs: async () => (await import('./openapi.ts')).default,
  // Hosts reach these with their own certificate; the handlers check that a host only touches its
  // own reports, and send everything else through the trusted_hosts check (spec §2.2 QUIRK fixed).
  pathAuthorization: { '/compliance/arf': 'client-certificate', '/compliance/policies': 'client-certificate' },
  settings: OPENSCAP_SETTINGS,
  async create(ctx) {
    return (await import('./api.ts')).openscapModule(ctx);
  },
});
