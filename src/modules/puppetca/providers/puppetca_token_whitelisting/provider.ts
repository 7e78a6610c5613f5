// Autosigning by token (spec puppetca.md §3): Foreman asks for a token when a host is built, the
// host puts it in its CSR's challengePassword, and Puppet's policy executable asks
// `POST /puppet/ca/validate` whether to sign. Tokens are single-use and expire.

import { defineProvider } from '../../../../core/module.ts';
import type { Logger } from '../../../../core/logging-types.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { readCsr, CsrError } from '../../../../lib/puppet/csr.ts';
import { PUPPETCA_SETTINGS } from '../../module.ts';
import type { AutosignProvider } from '../../provider.ts';
import { issueToken, loadSigningKey, TokenStore, unverifiedClaims, verifyToken, type SigningKeys } from './tokens.ts';

export interface TokenWhitelistingOptions {
  keys: SigningKeys;
  store: TokenStore;
  signAll: boolean;
  /** Minutes. */
  defaultTtl: number;
  log?: Logger;
  now?: () => number;
}

export function tokenWhitelisting(o: TokenWhitelistingOptions): AutosignProvider {
  const nowSeconds = (): number => Math.floor((o.now ?? Date.now)() / 1000);
  return {
    kind: 'autosign',
    id: 'puppetca_token_whitelisting',
    async list() {
      const now = nowSeconds();
      const names: string[] = [];
      for (const token of await o.store.read()) {
        const claims = await verifyToken(o.keys, token, now);
        if (claims) names.push(claims.certname);
      }
      return names;
    },
    async add(certname, ttlMinutes) {
      const ttl = ttlMinutes !== undefined && ttlMinutes > 0 ? ttlMinutes : o.defaultTtl;
      const token = await issueToken(o.keys, certname, ttl, nowSeconds());
      await o.store.update((tokens) => [[...tokens, token], undefined]);
      return { generated_token: token };
    },
    async remove(certname) {
      const now = nowSeconds();
      await o.store.update((tokens) => [
        tokens.filter((t) => {
          const c = unverifiedClaims(t);
          return c.certname !== certname && !(c.exp !== undefined && c.exp <= now);
        }),
        undefined,
      ]);
    },
    async validateCsr(csr) {
      if (o.signAll) return true;
      let info;
      try {
        info = await readCsr(csr);
      } catch (err) {
        if (err instanceof CsrError) {
          o.log?.warn(`Refusing to autosign: ${err.message}`);
          return false;
        }
        throw err;
      }
      if (!info.selfSigned) {
        o.log?.warn(`Refusing to autosign ${JSON.stringify(info.commonName ?? '')}: the CSR signature does not verify`);
        return false;
      }
      if (info.challengePassword === undefined) {
        o.log?.info(`Refusing to autosign ${JSON.stringify(info.commonName ?? '')}: the CSR has no challengePassword`);
        return false;
      }
      const token = info.challengePassword;
      const claims = await verifyToken(o.keys, token, nowSeconds());
      if (!claims) {
        o.log?.warn(`Refusing to autosign ${JSON.stringify(info.commonName ?? '')}: invalid or expired token`);
        return false;
      }
      // The reference accepts a valid token whatever the CSR's name; binding it to the certname it
      // was issued for stops one host's token from signing a certificate for another.
      if (info.commonName !== claims.certname) {
        o.log?.warn(`Refusing to autosign ${JSON.stringify(info.commonName ?? '')}: the token was issued for ${JSON.stringify(claims.certname)}`);
        return false;
      }
      const used = await o.store.update((tokens) => {
        const i = tokens.indexOf(token);
        if (i < 0) return [tokens, false];
        return [tokens.filter((_, j) => j !== i), true];
      });
      if (!used) o.log?.warn(`Refusing to autosign ${JSON.stringify(claims.certname)}: token unknown or already used`);
      return used;
    },
  };
}

export default defineProvider({
  id: 'puppetca_token_whitelisting',
  module: 'puppetca',
  summary:
    "Autosigning by token. Foreman gets a one-time token per host; the host puts it in its CSR's challengePassword " +
    "(csr_attributes.yaml) and Puppet's `autosign` policy executable asks POST /puppet/ca/validate " +
    '(see src/modules/puppetca/README.md for the executable).',
  moduleSettings: PUPPETCA_SETTINGS,
  settings: setting.settings({
    sign_all: setting.boolean({ default: false, description: 'Sign every CSR /validate is asked about, token or not. Only for labs.' }),
    tokens_file: setting.file({
      default: '/var/lib/foreman-proxy/tokens.yml',
      description: 'Where issued tokens are kept (a YAML list; created with its directories, mode 0600).',
    }),
    token_ttl: setting.number({
      default: 360,
      exclusiveMinimum: 0,
      unit: 'minutes',
      description: "Validity of a token. Foreman may ask for another per request with the token_ttl parameter.",
    }),
    certificate: setting.file({
      example: '/var/lib/foreman-proxy/puppetca_token.pem',
      description:
        "RSA key that signs the tokens, generated (2048 bits, mode 0600) when the file is missing. When unset, the proxy's " +
        'own :ssl_private_key: from settings.yml is used.',
    }),
  }),
  async create(ctx): Promise<AutosignProvider> {
    const s = ctx.settings;
    const certificate = s.certificate === '' ? undefined : s.certificate;
    const keyPath = certificate ?? ctx.global.sslPrivateKey;
    if (keyPath === null || keyPath === '') {
      throw new Error("no key to sign tokens with: set ':certificate:' in puppetca_token_whitelisting.yml or the global ':ssl_private_key:'");
    }
    const keys = await loadSigningKey(keyPath, certificate !== undefined);
    const store = new TokenStore(s.tokens_file);
    await store.init();
    return tokenWhitelisting({ keys, store, signAll: s.sign_all, defaultTtl: s.token_ttl, log: ctx.log });
  },
});
