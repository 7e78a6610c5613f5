// realm_freeipa: FreeIPA over its JSON-RPC API. Login with the keytab (Kerberos, as the
// reference) or, our extension, with the principal's password.

import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { REALM_SETTINGS } from '../../module.ts';
import type { RealmProvider } from '../../provider.ts';
import { parseIpaConfig, type IpaClientConfig } from './ipa-config.ts';
import { createIpaClient, passwordLogin, type IpaClient } from './ipa-client.ts';
import { keytabLogin } from './kerberos.ts';
import { FreeIpaRealm } from './freeipa.ts';

const IPA_CA = '/etc/ipa/ca.crt';

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export default defineProvider({
  id: 'realm_freeipa',
  module: 'realm',
  summary: 'FreeIPA realm provider: host entries through the IPA JSON-RPC API, logged in with a keytab or a password.',
  moduleSettings: REALM_SETTINGS,
  settings: setting.settings({
    principal: setting.string({ required: true, example: 'realm-proxy@EXAMPLE.COM', description: 'Principal the proxy authenticates to IPA as.' }),
    keytab_path: setting.file({
      checks: ['readable'],
      example: '/etc/foreman-proxy/freeipa.keytab',
      description: 'Keytab of the principal (must be readable by the proxy); required unless password is set.',
    }),
    ipa_config: setting.file({
      default: '/etc/ipa/default.conf',
      checks: ['readable'],
      description: 'IPA client configuration: the server (xmlrpc_uri) and the realm are read from it.',
    }),
    remove_dns: setting.boolean({ default: true, description: "Remove the host's DNS records when the host is deleted." }),
    verify_ca: setting.boolean({
      default: true,
      description: "Verify IPA's HTTPS certificate (CA: ipa_ca_file, else /etc/ipa/ca.crt when present, else the system store).",
    }),
    password: setting.string({
      extension: true,
      example: 'secret',
      description: "Log in with the principal's password instead of the keytab (keep this file private).",
    }),
    ipa_ca_file: setting.file({ checks: ['readable'], extension: true, example: '/etc/ipa/ca.crt', description: 'CA to verify IPA with.' }),
    ipa_timeout: setting.integer({
      default: 30,
      minimum: 1,
      maximum: 55,
      unit: 'seconds',
      extension: true,
      description: 'Time one realm request may take, all its IPA calls and a login together.',
    }),
  }),
  // The reference requires the keytab; a password is our alternative to it.
  validate: (s) =>
    text(s.password) === undefined && text(s.keytab_path) === undefined
      ? { key: 'keytab_path', message: "Parameter 'keytab_path' is expected to have a non-empty value" }
      : undefined,
  async create(ctx): Promise<RealmProvider> {
    const s = ctx.settings;
    const password = text(s.password);
    const keytab = text(s.keytab_path) as string;
    const timeoutMs = s.ipa_timeout * 1000;
    const verify = s.verify_ca;

    let config: IpaClientConfig | Error;
    try {
      config = parseIpaConfig(await readFile(s.ipa_config, 'utf8'));
    } catch (err) {
      config = err as Error;
    }
    const caFile = text(s.ipa_ca_file) ?? (existsSync(IPA_CA) ? IPA_CA : undefined);
    let client: IpaClient;
    if (config instanceof Error) {
      const problem = config;
      client = { call: () => Promise.reject(problem), close: async () => undefined };
    } else {
      client = createIpaClient({
        origin: config.origin,
        verify,
        ca: verify && caFile ? await readFile(caFile) : undefined,
        timeoutMs,
        login:
          password !== undefined
            ? passwordLogin(s.principal, password)
            : keytabLogin({ keytab, principal: s.principal, origin: config.origin, verify, caFile }),
      });
    }
    return new FreeIpaRealm({
      client,
      realm: config instanceof Error ? config : config.realm,
      removeDns: s.remove_dns,
      timeoutMs,
    });
  },
});
