// Real registry clients through the container gateway: podman login + pull of a private
// repository, a public one anonymously, a wrong password (401 with the spec's challenge), a pull
// identified by the host's certificate, skopeo inspect. Real docker-registry behind HAProxy as
// Pulp, HAProxy as the capsule's Apache, a stand-in Katello (test/container_gateway/capsule.ts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { mkdir, writeFile, copyFile, readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { requireCommand } from '../lib/procs.ts';
import { HIDDEN, PRIVATE, PUBLIC, startCapsule, type Capsule } from './capsule.ts';

let capsule: Capsule;
let env: NodeJS.ProcessEnv;

before(async () => {
  requireCommand('podman');
  requireCommand('skopeo');
  capsule = await startCapsule();
  // The recipe of shared/notes/containers.md: runc, cgroupfs, no default ulimits; vfs storage in
  // the test's directory, so nothing outside it is touched.
  const conf = join(capsule.dir, 'containers.conf');
  await writeFile(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n');
  const registries = join(capsule.dir, 'registries.conf');
  await writeFile(registries, 'unqualified-search-registries = []\n');
  env = { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_REGISTRIES_CONF: registries, HOME: capsule.dir, XDG_RUNTIME_DIR: join(capsule.dir, 'xdg'), REGISTRY_AUTH_FILE: join(capsule.dir, 'unused-auth.json') };
  await mkdir(join(capsule.dir, 'xdg'), { recursive: true });
});
after(async () => {
  await capsule?.close();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireCommand(cmd), args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const registry = (): string => `127.0.0.1:${capsule.frontEndPort}`;
const podmanArgs = (name: string): string[] => ['--root', join(capsule.dir, `podman-${name}`, 'root'), '--runroot', join(capsule.dir, `podman-${name}`, 'run'), '--storage-driver', 'vfs'];

async function podman(storage: string, args: string[], input?: string): Promise<Run> {
  return run('podman', [...podmanArgs(storage), ...args], input);
}

test('podman login + pull of a private repository through the gateway; skopeo inspect with the same login', async () => {
  const auth = join(capsule.dir, 'auth-jdoe.json');
  const login = await podman('user', ['login', '--tls-verify=false', '--authfile', auth, '-u', 'jdoe', '--password-stdin', registry()], 'secret\n');
  assert.equal(login.code, 0, login.stderr);
  const pull = await podman('user', ['pull', '--tls-verify=false', '--authfile', auth, `${registry()}/${PRIVATE}:latest`]);
  assert.equal(pull.code, 0, pull.stderr);
  const images = await podman('user', ['images', '--format', '{{.Repository}}:{{.Tag}} {{.Digest}}']);
  assert.match(images.stdout, new RegExp(`${registry()}/${PRIVATE}:latest ${capsule.images[PRIVATE].manifestDigest}`));
  // Not mapped to jdoe: denied like an unknown name.
  const hidden = await podman('user', ['pull', '--tls-verify=false', '--authfile', auth, `${registry()}/${HIDDEN}:latest`]);
  assert.notEqual(hidden.code, 0);
  const inspect = await run('skopeo', ['inspect', '--tls-verify=false', '--authfile', auth, `docker://${registry()}/${PRIVATE}:latest`]);
  assert.equal(inspect.code, 0, inspect.stderr);
  const info = JSON.parse(inspect.stdout) as { Digest: string; Name: string; Layers: string[] };
  assert.equal(info.Digest, capsule.images[PRIVATE].manifestDigest);
  assert.deepEqual(info.Layers, [capsule.images[PRIVATE].layerDigest]);
});

test('a public repository pulls anonymously; a private one does not', async () => {
  const auth = join(capsule.dir, 'auth-anonymous.json');
  await writeFile(auth, '{"auths":{}}');
  const pub = await podman('anon', ['pull', '--tls-verify=false', '--authfile', auth, `${registry()}/${PUBLIC}:latest`]);
  assert.equal(pub.code, 0, pub.stderr);
  const priv = await podman('anon', ['pull', '--tls-verify=false', '--authfile', auth, `${registry()}/${PRIVATE}:latest`]);
  assert.notEqual(priv.code, 0);
  assert.match(priv.stderr, /unauthorized|authentication required/i);
});

test('a wrong password: podman login fails, and the token endpoint answers 401 with the challenge', async () => {
  const login = await podman('user', ['login', '--tls-verify=false', '--authfile', join(capsule.dir, 'auth-wrong.json'), '-u', 'jdoe', '--password-stdin', registry()], 'wrong\n');
  assert.notEqual(login.code, 0);
  assert.match(login.stderr, /401|unauthorized|invalid username\/password/i);
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await request(`https://${registry()}/v2/token?account=jdoe&service=127.0.0.1`, {
      dispatcher: agent,
      headers: { authorization: `Basic ${Buffer.from('jdoe:wrong').toString('base64')}` },
    });
    await res.body.text();
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], `Bearer realm="https://${registry()}/v2/token",service="127.0.0.1",scope="repository:registry:pull,push"`);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  } finally {
    await agent.close();
  }
});

test('a host identified by its certificate (through the front end) pulls its private repository without logging in', async () => {
  const certDir = join(capsule.dir, 'host-certs');
  await mkdir(certDir, { recursive: true });
  await copyFile(capsule.hostCert.cert, join(certDir, 'client.cert'));
  await copyFile(capsule.hostCert.key, join(certDir, 'client.key'));
  const auth = join(capsule.dir, 'auth-host.json');
  await writeFile(auth, '{"auths":{}}');
  const pull = await podman('host', ['pull', '--tls-verify=false', '--cert-dir', certDir, '--authfile', auth, `${registry()}/${PRIVATE}:latest`]);
  assert.equal(pull.code, 0, pull.stderr);
  const hidden = await podman('host', ['pull', '--tls-verify=false', '--cert-dir', certDir, '--authfile', auth, `${registry()}/${HIDDEN}:latest`]);
  assert.notEqual(hidden.code, 0);
});

test('fault §6.2: the host certificate header sent straight to the proxy (not from the front end) is ignored', async () => {
  // As Apache sends it: the PEM on one line.
  const pem = (await readFile(capsule.hostCert.cert, 'utf8')).trim().replace(/\n/g, ' ');
  const res = await request(`${capsule.proxy.baseUrl}/container_gateway/v2/${PRIVATE}/manifests/latest`, {
    headers: { 'x-rhsm-ssl-client-cert': pem, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  await res.body.text();
  assert.equal(res.statusCode, 401, 'the reference serves the private manifest to anyone who shows a (public) certificate');
  // The host's own TLS connection to the proxy is a verified identity.
  const https = capsule.proxy.proxy.listeners.find((l) => l.spec.scheme === 'https');
  const agent = new Agent({ connect: { ca: await readFile(capsule.pki.caCert), cert: await readFile(capsule.hostCert.cert), key: await readFile(capsule.hostCert.key), servername: 'localhost' } });
  try {
    const direct = await request(`https://127.0.0.1:${https?.addresses[0].port}/container_gateway/v2/${PRIVATE}/manifests/latest`, {
      dispatcher: agent,
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const body = await direct.body.text();
    assert.equal(direct.statusCode, 200, body);
    assert.equal(direct.headers['docker-content-digest'], capsule.images[PRIVATE].manifestDigest);
  } finally {
    await agent.close();
  }
});
