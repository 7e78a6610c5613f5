// realm_freeipa: FreeIPA over its JSON-RPC API. Login with the keytab (Kerberos, as the
// reference) or, our extension, with the principal's password.

import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { defineProvider } from '../../../../core/module.ts';
import type { RealmProvider } from '../../provider.ts';
import { parseIpaConfig, type IpaClientConfig } from './ipa-config.ts';
import { createIpaClient, passwordLogin, type IpaClient } from './ipa-client.ts';
import { keytabLogin } from './kerberos.ts';
import { FreeIpaRealm } from './freeipa.ts';

const IPA_CA = '/etc/ipa/ca.crt';

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export default defineProvider<RealmProvider>({
  id: 'realm_freeipa',
  module: 'realm',
  settings: {
    keytab_path: { type: 'string', checks: ['readable'] },
    principal: { type: 'string', checks: ['presence'] },
    ipa_config: { type: 'string', default: '/etc/ipa/default.conf', checks: ['readable'] },
    remove_dns: { type: 'boolean', default: true, checks: ['boolean'] },
    verify_ca: { type: 'boolean', default: true, checks: ['boolean'] },
    // Extensions.
    password: { type: 'string' },
    ipa_ca_file: { type: 'string', checks: ['readable'] },
    ipa_timeout: { type: 'integer', default: 30 },
  },
  async create(ctx) {
    const s = ctx.settings;
    const principal = String(s.principal);
    const password = text(s.password);
    const keytab = text(s.keytab_path);
    if (password === undefined && keytab === undefined) {
      throw new Error("Parameter 'keytab_path' is expected to have a non-empty value");
    }
    const timeoutSeconds = Number(s.ipa_timeout);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 55) {
      throw new Error(`ipa_timeout must be between 1 and 55 seconds, got ${String(s.ipa_timeout)}`);
    }
    const timeoutMs = timeoutSeconds * 1000;
    const verify = s.verify_ca !== false;

    let config: IpaClientConfig | Error;
    try {
      config = parseIpaConfig(await readFile(String(s.ipa_config), 'utf8'));
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
            ? passwordLogin(principal, password)
            : keytabLogin({ keytab: keytab!, principal, origin: config.origin, verify, caFile }),
      });
    }
    ctx.signal.addEventListener('abort', () => void client.close().catch(() => undefined), { once: true });
    return new FreeIpaRealm({
      client,
      realm: config instanceof Error ? config : config.realm,
      removeDns: s.remove_dns !== false,
      timeoutMs,
    });
  },
});
