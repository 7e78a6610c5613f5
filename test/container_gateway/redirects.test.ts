// Pulp before pulp_container 2.28 answers blobs with a redirect to its content app; the gateway
// passes it on with the host of `client_endpoint` (load-balanced capsules, spec §2.6.4). Real
// docker-registry with its redirect middleware, a stand-in content app serving the registry's
// storage, and real podman and skopeo following the rewritten redirects.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { requireCommand } from '../lib/procs.ts';
import { PRIVATE, startCapsule, type Capsule } from './capsule.ts';

let capsule: Capsule;
before(async () => {
  // `localhost` is what clients must be sent to instead of the content app's 127.0.0.1.
  capsule = await startCapsule({ redirectBlobs: { clientEndpoint: 'https://localhost' } });
});
after(async () => {
  await capsule?.close();
});

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireCommand(cmd), args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

test('blob redirects reach the client with the client_endpoint host (302, also for HEAD); podman and skopeo follow them', async () => {
  const base = `https://127.0.0.1:${capsule.frontEndPort}`;
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const tok = await request(`${base}/v2/token?account=jdoe&scope=repository:${PRIVATE}:pull`, {
      dispatcher: agent,
      headers: { authorization: `Basic ${Buffer.from('jdoe:secret').toString('base64')}` },
    });
    const token = (JSON.parse(await tok.body.text()) as { token: string }).token;
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await request(`${base}/v2/${PRIVATE}/blobs/${capsule.images[PRIVATE].layerDigest}`, { method, dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
      await res.body.dump();
      assert.equal(res.statusCode, 302, method);
      const location = new URL(String(res.headers.location));
      assert.equal(location.hostname, 'localhost');
      assert.match(location.pathname, new RegExp(`/docker/registry/v2/blobs/sha256/../${capsule.images[PRIVATE].layerDigest.slice(7)}/data$`));
    }
  } finally {
    await agent.close();
  }

  const conf = join(capsule.dir, 'containers.conf');
  await writeFile(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n');
  await mkdir(join(capsule.dir, 'xdg'), { recursive: true });
  const env = { ...process.env, CONTAINERS_CONF: conf, HOME: capsule.dir, XDG_RUNTIME_DIR: join(capsule.dir, 'xdg') };
  const storage = ['--root', join(capsule.dir, 'pr', 'root'), '--runroot', join(capsule.dir, 'pr', 'run'), '--storage-driver', 'vfs'];
  const auth = join(capsule.dir, 'auth-redirect.json');
  const registry = `127.0.0.1:${capsule.frontEndPort}`;
  const login = await run('podman', [...storage, 'login', '--tls-verify=false', '--authfile', auth, '-u', 'jdoe', '--password-stdin', registry], env, 'secret\n');
  assert.equal(login.code, 0, login.stderr);
  const before = capsule.contentHosts.length;
  const pull = await run('podman', [...storage, 'pull', '--tls-verify=false', '--authfile', auth, `${registry}/${PRIVATE}:latest`], env);
  assert.equal(pull.code, 0, pull.stderr);
  const fetched = capsule.contentHosts.slice(before);
  assert.ok(fetched.length >= 2, 'config and layer came from the content app');
  assert.ok(fetched.every((h) => h.startsWith('localhost:')), `content requests went to ${fetched.join(', ')}`);
  const copy = await run('skopeo', ['copy', '--src-tls-verify=false', '--authfile', auth, `docker://${registry}/${PRIVATE}:latest`, `oci:${join(capsule.dir, 'copied')}:latest`], env);
  assert.equal(copy.code, 0, copy.stderr);
});
