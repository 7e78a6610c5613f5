// Certificates through the Puppet Server CA HTTP API (spec puppetca.md §4), authenticated with the
// proxy's client certificate. One pooled client per proxy; every call has a deadline and a
// bulkhead, so a hung CA answers 406/503 instead of piling up requests.

import { Bulkhead } from '../../../../core/bulkhead.ts';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { certificateList } from '../../../../lib/puppet/cert-status.ts';
import { puppetServerSettings } from '../../../../lib/puppet/server-settings.ts';
import { createPuppetServerClient, parseJson, type PuppetReply, type PuppetServerClient } from '../../../../lib/puppet/server-client.ts';
import { PUPPETCA_SETTINGS } from '../../module.ts';
import type { CertificateProvider } from '../../provider.ts';

/**
 * Deadline of one operation (a clean is two CA calls), queueing included: Foreman gives up after
 * 60 s, so the proxy answers before that, whatever the CA does.
 */
export const OPERATION_DEADLINE_MS = 55_000;

class PuppetCaHttpError extends Error {
  constructor(context: string, reply: PuppetReply) {
    super(`${context}: ${reply.status} ${reply.body}`);
    this.name = 'PuppetCaHttpError';
  }
}

function statusPath(certname: string): string {
  return `puppet-ca/v1/certificate_status/${encodeURIComponent(certname)}`;
}

const JSON_BODY = { 'content-type': 'application/json' };

type Call = (method: 'GET' | 'PUT' | 'DELETE', path: string, options?: { body?: string; headers?: Record<string, string> }) => Promise<PuppetReply>;

export function puppetCaHttpApi(client: PuppetServerClient, bulkhead: Bulkhead, deadlineMs = OPERATION_DEADLINE_MS): CertificateProvider {
  /** A caller for one operation: every call gets what is left of the operation's deadline. */
  function operation(): Call {
    const until = Date.now() + deadlineMs;
    return (method, path, options = {}) =>
      bulkhead.run(() => {
        const left = until - Date.now();
        if (left <= 0) throw new Error(`no answer from the Puppet CA within ${deadlineMs / 1000} s`);
        return client.call(method, path, { ...options, timeoutMs: left });
      });
  }
  async function setState(call: Call, certname: string, state: 'signed' | 'revoked', accepted: readonly number[]): Promise<void> {
    const reply = await call('PUT', statusPath(certname), { body: JSON.stringify({ desired_state: state }), headers: JSON_BODY });
    if (!accepted.includes(reply.status)) throw new PuppetCaHttpError('Failed to set Puppet CA certificate_status v1 API', reply);
  }
  return {
    kind: 'certificates',
    id: 'puppetca_http_api',
    async list() {
      // The last path segment is required by the API and ignored by it.
      const reply = await operation()('GET', 'puppet-ca/v1/certificate_statuses/foreman');
      const context = 'Failed to query Puppet CA search v1 API';
      if (reply.status !== 200) throw new PuppetCaHttpError(context, reply);
      return certificateList(parseJson(reply, context));
    },
    async sign(certname) {
      await setState(operation(), certname, 'signed', [204]);
    },
    async clean(certname) {
      // 404: no such certificate; 409: only a CSR, nothing to revoke. Both are fine for a clean.
      const call = operation();
      await setState(call, certname, 'revoked', [204, 404, 409]);
      const reply = await call('DELETE', statusPath(certname));
      if (reply.status !== 204 && reply.status !== 404) {
        throw new PuppetCaHttpError('Failed to delete Puppet CA certificate_status v1 API', reply);
      }
    },
  };
}

export default defineProvider({
  id: 'puppetca_http_api',
  module: 'puppetca',
  summary:
    "The Puppet CA HTTP API (Puppet Server 6+). The proxy's certificate must be allowed on the certificate_status(es) " +
    "endpoints in Puppet Server's auth.conf (foreman-installer does this).",
  moduleSettings: PUPPETCA_SETTINGS,
  settings: setting.settings({
    ...puppetServerSettings({
      urlDescription: "URL of the Puppet CA server (required), also shown to Foreman as the host's Puppet CA. A path prefix is kept.",
      caDefault: '/etc/puppetlabs/puppet/ssl/certs/ca.pem',
    }),
  }),
  async create(ctx) {
    const s = ctx.settings;
    const client = await createPuppetServerClient(s, { timeoutMs: OPERATION_DEADLINE_MS, connections: 8 });
    const bulkhead = new Bulkhead({ name: 'puppetca', limit: 8, queue: 100, queueTimeoutMs: 10_000 });
    return { ...puppetCaHttpApi(client, bulkhead), close: () => client.close() };
  },
});
