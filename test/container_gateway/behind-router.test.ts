// The container gateway behind `smart-proxy router` (a real router process) instead of the
// capsule's Apache: the router passes the host's verified certificate in X-RHSM-SSL-Client-Cert,
// so a host pulls its private repository through the router with its certificate alone, and a
// client's own copy of the header is dropped. Real docker-registry and HAProxy (the capsule
// helper), stand-in Katello.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { portOf, startProxyProcess, type ProxyProcess } from '../lib/proxy-process.ts';
import { PRIVATE, startCapsule, type Capsule } from './capsule.ts';

let capsule: Capsule;
let router: ProxyProcess;
before(async () => {
  // The router connects from 127.0.0.1: listed as a front end beside the Apache stand-in.
  capsule = await startCapsule({ trustedFrontEnds: ['127.0.0.2', '127.0.0.1'] });
  const { pki } = capsule;
  const routerDir = join(capsule.dir, 'router');
  // The router calls the instance with a certificate in its trusted_hosts (its health checks).
  const upstream = await pki.client('katello.example.test');
  await writeSettingsDir(
    routerDir,
    { ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert, bind_host: ['127.0.0.1'], https_port: 0, trusted_hosts: ['katello.example.test'], log_file: join(capsule.dir, 'router.log') },
    { router: { instances: [`https://127.0.0.1:${capsule.httpsPort}`], upstream_ssl_certificate: upstream.cert, upstream_ssl_private_key: upstream.key } },
  );
  router = await startProxyProcess(['router', '--settings', routerDir]);
});
after(async () => {
  await router?.stop();
  await capsule?.close();
});

async function manifest(who: { cert: string; key: string } | undefined, headers: Record<string, string> = {}): Promise<{ status: number; digest: unknown; body: string }> {
  const ca = await readFile(capsule.pki.caCert);
  const agent = new Agent({ connect: { ca, servername: 'localhost', ...(who ? { cert: await readFile(who.cert), key: await readFile(who.key) } : {}) } });
  try {
    const res = await request(`https://127.0.0.1:${portOf(router, 'https')}/container_gateway/v2/${PRIVATE}/manifests/latest`, {
      dispatcher: agent,
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json', ...headers },
    });
    return { status: res.statusCode, digest: res.headers['docker-content-digest'], body: await res.body.text() };
  } finally {
    await agent.close();
  }
}

test('through the router, a host pulls its private manifest with its certificate; a forged header gets nothing', async () => {
  const own = await manifest(capsule.hostCert);
  assert.equal(own.status, 200, own.body);
  assert.equal(own.digest, capsule.images[PRIVATE].manifestDigest);
  // Without a certificate, the host's certificate copied into the header is not believed: the
  // router drops it and says "(null)".
  const pem = (await readFile(capsule.hostCert.cert, 'utf8')).trim().replace(/\n/g, ' ');
  const forged = await manifest(undefined, { 'x-rhsm-ssl-client-cert': pem });
  assert.equal(forged.status, 401, forged.body);
});
