// A capsule's container pieces on loopback, all real except Katello: docker-registry behind HAProxy
// as Pulp's registry (`/pulpcore_registry/v2/`), the proxy (in process, HTTP + HTTPS listeners)
// with the container_gateway module, a stand-in Katello, and a second HAProxy playing the
// capsule's Apache: TLS on its own port, optional client certificates verified against the CA,
// `X-RHSM-SSL-Client-Cert` set from the verified certificate (any client copy removed), and
// `/v1/`, `/v2/`, `/index/` mapped to `/container_gateway/…` on the proxy (spec §1.3). Podman and
// skopeo talk to that front end as to a registry at `/v2/`. The front end connects from
// 127.0.0.2, the only address in `trusted_front_ends`, so a direct caller's header is ignored.

import { join } from 'node:path';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { freeTcpPort, removeDir, tempDir } from '../lib/procs.ts';
import { startKatelloStandIn, type KatelloStandIn } from '../lib/katello-standin.ts';
import { makeOciImage, pushImage, startContentStandIn, startHaproxy, startPulpRegistryStandIn, startRegistry, type OciImage, type RunningDaemon } from '../lib/registry.ts';

export const PUBLIC = 'org/prod/busybox';
export const PRIVATE = 'org/prod/fedora';
export const HIDDEN = 'org/prod/secret';
export const HOST_UUID = '6f1c2a4e-1111-4c2b-9d3e-5a7b8c9d0e1f';
export const OTHER_HOSTS = Array.from({ length: 200 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

export interface Capsule {
  readonly dir: string;
  readonly pki: Pki;
  readonly proxy: TestProxy;
  readonly katello: KatelloStandIn;
  /** The Apache stand-in: `127.0.0.1:<port>` is the registry host clients use. */
  readonly frontEndPort: number;
  /** The proxy's own HTTPS port (management calls, hosts connecting straight). */
  readonly httpsPort: number;
  readonly registryPort: number;
  readonly pulpPort: number;
  readonly images: Record<string, OciImage>;
  readonly hostCert: { cert: string; key: string };
  /** Host headers the content stand-in saw (redirectBlobs only). */
  readonly contentHosts: string[];
  /** Management calls as Katello makes them: HTTPS with a trusted client certificate. */
  manage(method: 'GET' | 'PUT', path: string, body?: string, contentType?: string): Promise<{ status: number; body: string }>;
  /** Katello's refresh sequence (spec §2.7.1), as form bodies. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

const enc = encodeURIComponent;

export interface CapsuleOptions {
  dbConnectionString?: string;
  /**
   * Pulp before pulp_container 2.28: blobs are redirects to the content app (a stand-in serving
   * the registry's storage on this port), which the gateway rewrites to `client_endpoint`'s host.
   */
  redirectBlobs?: { clientEndpoint: string };
  /** The gateway's trusted_front_ends; default: the Apache stand-in's 127.0.0.2 only. */
  trustedFrontEnds?: string[];
}

export async function startCapsule(options: CapsuleOptions = {}): Promise<Capsule> {
  const dir = await tempDir('cg');
  const stops: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await removeDir(dir);
  };
  try {
    const pkiDir = join(dir, 'pki');
    await mkdir(pkiDir);
    const pki = await makePki(pkiDir);
    const hostCert = await pki.client(HOST_UUID);
    const katelloCert = await pki.client('katello.example.test');

    const contentPort = await freeTcpPort();
    const registry = await startRegistry(dir, options.redirectBlobs ? { redirectBlobsTo: `http://127.0.0.1:${contentPort}/` } : {});
    stops.push(registry.stop);
    let contentHosts: string[] = [];
    if (options.redirectBlobs) {
      const content = await startContentStandIn(registry.storage, contentPort);
      contentHosts = content.hosts;
      stops.push(content.close);
    }
    const pulp = await startPulpRegistryStandIn(dir, registry.port);
    stops.push(pulp.stop);
    const images: Record<string, OciImage> = {};
    for (const name of [PUBLIC, PRIVATE, HIDDEN]) {
      const short = name.split('/').pop() as string;
      images[name] = await makeOciImage(dir, short, { [`etc/${short}-release`]: `${short} test image\n`, hello: `#!/bin/sh\necho ${short}\n` });
      await pushImage(images[name], registry.port, name);
    }

    const katello = await startKatelloStandIn({
      users: { jdoe: { password: 'secret', repositories: [PRIVATE] } },
      hosts: { [HOST_UUID]: [PRIVATE] },
      publicRepositories: [PUBLIC],
    });
    stops.push(katello.close);

    const proxy = await startTestProxy({
      global: { ...httpsSettings(pki), http_port: 0, foreman_url: katello.url, trusted_hosts: ['katello.example.test'] },
      files: {
        container_gateway: {
          enabled: true,
          pulp_endpoint: `http://127.0.0.1:${pulp.port}`,
          ...(options.dbConnectionString ? { db_connection_string: options.dbConnectionString } : { sqlite_db_path: join(dir, 'gateway.db') }),
          trusted_front_ends: options.trustedFrontEnds ?? ['127.0.0.2'],
          ...(options.redirectBlobs ? { client_endpoint: options.redirectBlobs.clientEndpoint } : {}),
        },
      },
    });
    stops.push(() => proxy.close());
    const https = proxy.proxy.listeners.find((l) => l.spec.scheme === 'https');
    const httpsPort = https?.addresses[0].port as number;
    const httpPort = Number(new URL(proxy.baseUrl).port);

    const frontEndPort = await freeTcpPort();
    const bundle = join(pkiDir, 'frontend.pem');
    await writeFile(bundle, `${await readFile(pki.serverCert, 'utf8')}${await readFile(pki.serverKey, 'utf8')}`);
    const frontEnd: RunningDaemon = await startHaproxy(
      dir,
      'apache-standin',
      [frontEndPort],
      `frontend capsule
  bind 127.0.0.1:${frontEndPort} ssl crt ${bundle} ca-file ${pki.caCert} verify optional
  http-request del-header X-RHSM-SSL-Client-Cert
  http-request set-header X-RHSM-SSL-Client-Cert %[ssl_c_der,base64] if { ssl_c_used }
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request replace-path ^/((v1|v2|index)(/.*)?)$ /container_gateway/\\1
  default_backend proxy
backend proxy
  server proxy 127.0.0.1:${httpPort} source 127.0.0.2
`,
    );
    stops.push(frontEnd.stop);

    const managementAgent = new Agent({
      connect: { ca: await readFile(pki.caCert), cert: await readFile(katelloCert.cert), key: await readFile(katelloCert.key), servername: 'localhost' },
    });
    stops.push(() => managementAgent.close());
    const manage: Capsule['manage'] = async (method, path, body, contentType = 'application/x-www-form-urlencoded') => {
      const res = await request(`https://127.0.0.1:${httpsPort}/container_gateway/${path}`, {
        method,
        dispatcher: managementAgent,
        headers: body === undefined ? {} : { 'content-type': contentType },
        body,
      });
      return { status: res.statusCode, body: await res.body.text() };
    };
    const must = async (method: 'GET' | 'PUT', path: string, body?: string): Promise<string> => {
      const r = await manage(method, path, body);
      if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
      return r.body;
    };
    const refresh = async (): Promise<void> => {
      await must('PUT', 'repository_list', [[PUBLIC, false], [PRIVATE, true], [HIDDEN, true]].map(([n, a]) => `repositories[][repository]=${enc(n as string)}&repositories[][auth_required]=${String(a)}`).join('&'));
      const users = (JSON.parse(await must('GET', 'users')) as { users: string[] }).users;
      if (users.length) {
        await must('PUT', 'user_repository_mapping', users.map((u) => `users[][${enc(u)}][][repository]=${enc(PRIVATE)}&users[][${enc(u)}][][auth_required]=true`).join('&'));
      }
      const hosts = [HOST_UUID, ...OTHER_HOSTS];
      await must('PUT', 'update_hosts', hosts.map((h) => `hosts[][uuid]=${h}`).join('&'));
      await must(
        'PUT',
        'host_repository_mapping',
        hosts.map((h) => `hosts[][${h}][][repository]=${enc(PRIVATE)}&hosts[][${h}][][auth_required]=true`).join('&'),
      );
    };
    await refresh();
    return {
      dir,
      pki,
      proxy,
      katello,
      frontEndPort,
      httpsPort,
      registryPort: registry.port,
      pulpPort: pulp.port,
      images,
      hostCert,
      contentHosts,
      manage,
      refresh,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
