// Autosigning by token (spec puppetca.md §3): Foreman asks for a token when a host is built, the
// host puts it in its CSR's challengePassword, and Puppet's policy executable asks
// `POST /puppet/ca/validate` whether to sign. Tokens are single-use and expire.

import { defineProvider, type RuntimeContext } from '../../../../core/module.ts';
import { readCsr, CsrError } from '../../../../lib/puppet/csr.ts';
import type { AutosignProvider } from '../../provider.ts';
import { issueToken, loadSigningKey, TokenStore, unverifiedClaims, verifyToken, type SigningKeys } from './tokens.ts';

export interface TokenWhitelistingOptions {
  keys: SigningKeys;
  store: TokenStore;
  signAll: boolean;
  /** Minutes. */
  defaultTtl: number;
  log?: RuntimeContext['log'];
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

function positiveNumber(value: unknown, name: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new Error(`Setting '${name}' must be a positive number of minutes, got ${JSON.stringify(value)}`);
  }
  return n;
}

export default defineProvider<AutosignProvider>({
  id: 'puppetca_token_whitelisting',
  module: 'puppetca',
  settings: {
    sign_all: { default: false, type: 'boolean', checks: ['boolean'] },
    tokens_file: { default: '/var/lib/foreman-proxy/tokens.yml', type: 'string' },
    token_ttl: { default: 360, type: 'number' },
    certificate: { type: 'string' },
  },
  async create(ctx) {
    const s = ctx.settings;
    const certificate = typeof s.certificate === 'string' && s.certificate !== '' ? s.certificate : undefined;
    const keyPath = certificate ?? ctx.global.sslPrivateKey;
    if (keyPath === null || keyPath === '') {
      throw new Error("no key to sign tokens with: set ':certificate:' in puppetca_token_whitelisting.yml or the global ':ssl_private_key:'");
    }
    const keys = await loadSigningKey(keyPath, certificate !== undefined);
    const store = new TokenStore(String(s.tokens_file));
    await store.init();
    return tokenWhitelisting({
      keys,
      store,
      signAll: s.sign_all === true,
      defaultTtl: positiveNumber(s.token_ttl, 'token_ttl'),
      log: ctx.log,
    });
  },
});
