// The container gateway (spec content.md §2): the capsule's container registry front end. Hosts
// pull through it (identity by host certificate, Katello registry token, or anonymous); Katello
// refreshes what it may serve after every capsule sync. Data lives in node:sqlite by default or
// in PostgreSQL (several replicas).

import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { defineModule, type Settings } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import { translateUpstream } from './errors.ts';

export const CONTAINER_GATEWAY_SETTINGS = setting.settings({
  pulp_endpoint: setting.url({
    required: true,
    description: 'Base URL of the local Pulp; registry calls go to `<pulp_endpoint>/pulpcore_registry/…`. Default `https://<hostname>`.',
  }),
  client_endpoint: setting.url({
    optional: true,
    description: 'Only its host is used: it replaces the host of the redirect locations Pulp answers (load balancers). Default: Pulp’s own.',
  }),
  pulp_client_ssl_ca: setting.file({ checks: ['readable'], description: 'CA for verifying Pulp. Default: the global foreman_ssl_ca.' }),
  pulp_client_ssl_cert: setting.file({ checks: ['readable'], description: 'Client certificate presented to Pulp. Default: the global foreman_ssl_cert.' }),
  pulp_client_ssl_key: setting.file({ checks: ['readable'], description: 'Key of pulp_client_ssl_cert (RSA or EC). Default: the global foreman_ssl_key.' }),
  katello_registry_path: setting.string({ default: '/v2/', description: 'Path on the origin of foreman_url where Katello serves `token` and `_catalog`.' }),
  db_connection_string: setting.string({
    description: 'Database URL: `postgres://user:pw@host:port/db`, `postgresql:///db?host=/run/postgresql`, or `sqlite:///path/to/file.db`. Takes precedence over sqlite_db_path.',
    example: 'postgres:///container_gateway',
  }),
  db_max_connections: setting.integer({ default: 30, minimum: 1, maximum: 1000, description: 'PostgreSQL connection pool size.' }),
  db_pool_timeout: setting.integer({ default: 30, minimum: 1, maximum: 3600, unit: 'seconds', description: 'Longest wait for a pooled PostgreSQL connection.' }),
  sqlite_db_path: setting.string({
    description: 'SQLite database file, used when db_connection_string is not set.',
    example: '/var/lib/foreman-proxy/smart_proxy_container_gateway.db',
  }),
  sqlite_timeout: setting.integer({ default: 30000, minimum: 0, maximum: 3_600_000, unit: 'milliseconds', description: 'SQLite busy timeout.' }),
  host_certificate_ca_file: setting.file({
    checks: ['readable'],
    extension: true,
    description: 'CA bundle (PEM) that signs host (RHSM consumer) certificates: a host certificate counts only when it verifies against it and is within its validity period. Default: the global ssl_ca_file (katello-default-ca on a capsule).',
  }),
  trusted_front_ends: setting.list({
    default: [],
    extension: true,
    description: 'Addresses of reverse proxies (Apache, HAProxy) whose `X-RHSM-SSL-Client-Cert` header carries the verified certificate of the host. From any other address the header is ignored.',
  }),
  upstream_timeout: setting.integer({ default: 60, minimum: 1, maximum: 3600, unit: 'seconds', extension: true, description: 'Deadline of a call to Pulp or Katello (a blob transfer: longest silence between bytes).' }),
  upstream_connections: setting.integer({ default: 64, minimum: 1, maximum: 4096, extension: true, description: 'Keep-alive connections kept per upstream (Pulp, Katello).' }),
  management_body_limit: setting.integer({
    default: 268_435_456,
    minimum: 1024,
    unit: 'bytes',
    extension: true,
    description: 'Largest refresh body Katello may send (host mappings of many hosts).',
  }),
});

export type ContainerGatewaySettings = setting.Static<typeof CONTAINER_GATEWAY_SETTINGS>;

/** Where the gateway's data lives, from the settings. */
export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export function databaseTarget(s: Pick<ContainerGatewaySettings, 'db_connection_string' | 'sqlite_db_path'>): DatabaseTarget | undefined {
  const url = s.db_connection_string;
  if (url) {
    if (/^sqlite:/i.test(url)) {
      const path = url.replace(/^sqlite:(\/\/)?/i, '').replace(/\?.*$/, '');
      return { kind: 'sqlite', path: path.startsWith('/') ? path : `/${path}` };
    }
    if (/^postgres(ql)?:/i.test(url)) return { kind: 'postgres', url: url.replace(/^postgres:/i, 'postgresql:') };
    return undefined;
  }
  return s.sqlite_db_path ? { kind: 'sqlite', path: s.sqlite_db_path } : undefined;
}

/** Why the database settings name no database, or undefined. */
export function databaseProblem(s: Pick<ContainerGatewaySettings, 'db_connection_string' | 'sqlite_db_path'>): string | undefined {
  if (s.db_connection_string && !databaseTarget(s)) {
    // The URL may carry a password: never shown.
    return `Parameter 'db_connection_string' must start with postgres://, postgresql:// or sqlite://`;
  }
  if (!databaseTarget(s)) return 'Missing db_connection_string or sqlite_db_path option';
  return undefined;
}

export default defineModule({
  name: 'container_gateway',
  summary: 'Container registry front end of a capsule (/container_gateway): pull decisions for hosts and users, Katello’s refresh calls.',
  prefixes: ['/container_gateway'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  // Management endpoints: trusted_hosts + client certificate. Registry endpoints evaluate the
  // client's identity per request (spec §2.1).
  authorize: true,
  pathAuthorization: {
    '/container_gateway/v1': 'none',
    '/container_gateway/v2': 'none',
    '/container_gateway/index': 'none',
  },
  settings: CONTAINER_GATEWAY_SETTINGS,
  exposedSettings: [],
  computeSettings(settings: Settings, global: GlobalSettings): Settings {
    return {
      ...settings,
      pulp_endpoint: settings.pulp_endpoint ?? `https://${hostname()}`,
      pulp_client_ssl_ca: settings.pulp_client_ssl_ca ?? global.foremanSslCa ?? undefined,
      pulp_client_ssl_cert: settings.pulp_client_ssl_cert ?? global.foremanSslCert ?? undefined,
      pulp_client_ssl_key: settings.pulp_client_ssl_key ?? global.foremanSslKey ?? undefined,
      host_certificate_ca_file: settings.host_certificate_ca_file ?? global.sslCaFile ?? undefined,
    };
  },
  validate(s) {
    const problem = databaseProblem(s);
    if (problem) return { key: 'db_connection_string', message: problem };
    if ((s.pulp_client_ssl_cert === undefined) !== (s.pulp_client_ssl_key === undefined)) {
      return { key: 'pulp_client_ssl_key', message: 'pulp_client_ssl_cert and pulp_client_ssl_key must be set together' };
    }
    return undefined;
  },
  // Pulp or Katello unreachable → 502, too slow → 504; anything else unexpected is a logged 500.
  errors: { translate: translateUpstream },
  async create(ctx) {
    const s = ctx.settings;
    const [{ gatewayInstance }, { createHttpClient }, { HostCertificateVerifier }] = await Promise.all([
      import('./api.ts'),
      import('../../lib/http/client.ts'),
      import('./identity.ts'),
    ]);
    // Everything is opened here, at start-up: a bad database or certificate fails the module
    // instead of surfacing as 500s on later requests (spec §6.7).
    const read = (file: string | undefined): Promise<string | undefined> => (file ? readFile(file, 'utf8') : Promise.resolve(undefined));
    const [pulpCa, pulpCert, pulpKey, hostCa, foremanCa] = await Promise.all([
      read(s.pulp_client_ssl_ca),
      read(s.pulp_client_ssl_cert),
      read(s.pulp_client_ssl_key),
      read(s.host_certificate_ca_file),
      read(ctx.global.foremanSslCa ?? undefined),
    ]);
    const verifier = new HostCertificateVerifier(hostCa);
    if (!verifier.configured) ctx.log.warn('no host_certificate_ca_file (nor ssl_ca_file): host certificates are refused');
    const store = await openStore(s);
    const timeoutMs = s.upstream_timeout * 1000;
    const pulpBase = `${s.pulp_endpoint.replace(/\/+$/, '')}/pulpcore_registry/`;
    const pulp = createHttpClient({
      baseUrl: pulpBase,
      verify: true,
      ca: pulpCa,
      cert: pulpCert,
      key: pulpKey,
      timeoutMs,
      idleTimeoutMs: timeoutMs,
      connections: s.upstream_connections,
    });
    const foreman = ctx.global.foremanUrl;
    const katello = createHttpClient({
      baseUrl: foreman ? new URL(foreman).origin : 'https://localhost',
      verify: true,
      ca: foremanCa,
      timeoutMs,
      connections: s.upstream_connections,
    });
    const registryPath = s.katello_registry_path.startsWith('/') ? s.katello_registry_path : `/${s.katello_registry_path}`;
    const instance = gatewayInstance({
      options: {
        clientEndpointHost: s.client_endpoint ? new URL(s.client_endpoint).hostname : undefined,
        katelloRegistryPath: registryPath.endsWith('/') ? registryPath : `${registryPath}/`,
        trustedFrontEnds: s.trusted_front_ends,
        managementBodyLimit: s.management_body_limit,
        blobTimeoutMs: 6 * 3600 * 1000,
      },
      store,
      pulp,
      katello,
      verifier,
      log: ctx.log,
    });
    return instance;
  },
});

export async function openStore(s: Pick<ContainerGatewaySettings, 'db_connection_string' | 'sqlite_db_path' | 'sqlite_timeout' | 'db_max_connections' | 'db_pool_timeout'>) {
  const target = databaseTarget(s);
  if (!target) throw new Error(databaseProblem(s));
  if (target.kind === 'postgres') {
    const { openPostgresStore } = await import('./store/postgres.ts');
    return openPostgresStore({ connectionString: target.url, maxConnections: s.db_max_connections, poolTimeoutMs: s.db_pool_timeout * 1000 });
  }
  const { openSqliteStore } = await import('./store/sqlite.ts');
  return openSqliteStore({ path: target.path, busyTimeoutMs: s.sqlite_timeout });
}
