// The reports module (spec plugins.md §4, plugin smart_proxy_reports): Puppet (YAML) and Ansible
// (JSON) run reports converted to Foreman's host report JSON and forwarded to the
// foreman_host_reports plugin through the durable spool (lib/spool).

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { spoolSettings } from '../../lib/spool/settings.ts';

export const REPORTS_SETTINGS = setting.settings({
  reported_proxy_hostname: setting.string({ description: "Proxy name put in every report (default: this machine's host name)." }),
  debug_payload: setting.boolean({ default: false, description: 'Log every input and output report at DEBUG.' }),
  spool_dir: setting.string({ default: '/var/lib/foreman-proxy/reports', description: 'Spool directory: the spool database, and done/ and fail/ copies.' }),
  keep_reports: setting.boolean({ default: false, description: 'Keep a copy of every delivered report in <spool_dir>/done.' }),
  override_hostname: setting.string({ description: 'Development only: host name put in every report instead of the one reported.' }),
  incoming_save_dir: setting.string({ description: 'Development only: save every raw input as <format>-<time>.<yaml|json> here.' }),
  timeout: setting.number({ default: 60, exclusiveMinimum: 0, maximum: 3600, unit: 'seconds', extension: true, description: 'Deadline of one upload to Foreman.' }),
  ...spoolSettings({ default: 2 * 1024 * 1024 * 1024, description: 'Most bytes held in the spool; uploads beyond it get 503.' }),
});

export default defineModule({
  name: 'reports',
  summary: 'Host reports (/reports, /host_reports): Puppet and Ansible run reports forwarded to Foreman through a durable spool.',
  prefixes: ['/reports', '/host_reports'],
  audience: 'foreman',
  authorize: true,
  apiDocs: async () => (await import('./openapi.ts')).default,
  settings: REPORTS_SETTINGS,
  async create(ctx) {
    return (await import('./api.ts')).reportsModule(ctx);
  },
});
