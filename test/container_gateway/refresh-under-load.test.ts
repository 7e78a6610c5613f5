// Fault §6.1: Katello's full refresh sequence (repository_list, users, user_repository_mapping,
// update_hosts, host_repository_mapping) replayed over and over while 50 clients pull a private
// repository in a loop through the capsule front end (25 users with registry tokens, 25 hosts with
// their certificates, speaking the registry protocol over HTTP), plus podman pulling with a login.
// The reference deletes every repository (and with them every mapping) at the first step of each
// refresh, so its private pulls fail until the later steps arrive; here no pull may fail.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { requireCommand } from '../lib/procs.ts';
import { startPostgres } from '../lib/postgres.ts';
import { PRIVATE, startCapsule, type Capsule } from './capsule.ts';

let capsule: Capsule;
before(async () => {
  capsule = await startCapsule();
});
after(async () => {
  await capsule?.close();
});

const CLIENTS = 50;
const REFRESHES = 20;
const OCI = 'application/vnd.oci.image.manifest.v1+json';

interface Tally {
  ok: number;
  /** Pulls that completed while a refresh was running. */
  during: number;
  failures: string[];
}

/** One registry-protocol pull: manifest, then its config blob, both verified by digest. */
async function pullOnce(base: string, agent: Agent, headers: Record<string, string>, expectDigest: string, tally: Tally): Promise<void> {
  try {
    const m = await request(`${base}/v2/${PRIVATE}/manifests/latest`, { dispatcher: agent, headers: { ...headers, accept: OCI } });
    const text = await m.body.text();
    if (m.statusCode !== 200) throw new Error(`manifest ${m.statusCode} ${text.slice(0, 200)}`);
    const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    if (digest !== expectDigest) throw new Error(`manifest digest ${digest}`);
    const config = (JSON.parse(text) as { config: { digest: string } }).config.digest;
    const b = await request(`${base}/v2/${PRIVATE}/blobs/${config}`, { dispatcher: agent, headers, maxRedirections: 0 } as Parameters<typeof request>[1]);
    const blob = Buffer.from(await b.body.arrayBuffer());
    if (b.statusCode !== 200) throw new Error(`blob ${b.statusCode} ${blob.toString().slice(0, 200)}`);
    if (`sha256:${createHash('sha256').update(blob).digest('hex')}` !== config) throw new Error('blob digest mismatch');
    tally.ok++;
  } catch (err) {
    tally.failures.push((err as Error).message);
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireCommand(cmd), args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    child.stdin.end(input);
  });
}

test('Katello’s refresh sequence replayed while 50 clients and podman pull a private repository: zero failed pulls', async () => {
  await pullsDuringRefreshes(capsule);
});

test('the same on the PostgreSQL store (real PostgreSQL): zero failed pulls', async (t) => {
  const cluster = await startPostgres();
  t.after(() => cluster.stop());
  const pgCapsule = await startCapsule({ dbConnectionString: await cluster.createDatabase() });
  t.after(() => pgCapsule.close());
  await pullsDuringRefreshes(pgCapsule);
});

async function pullsDuringRefreshes(capsule: Capsule): Promise<void> {
  const base = `https://127.0.0.1:${capsule.frontEndPort}`;
  const expectDigest = capsule.images[PRIVATE].manifestDigest;
  const userAgent = new Agent({ connect: { rejectUnauthorized: false }, connections: 32 });
  const hostAgent = new Agent({
    connect: { rejectUnauthorized: false, cert: await readFile(capsule.hostCert.cert), key: await readFile(capsule.hostCert.key) },
    connections: 32,
  });
  const tally: Tally = { ok: 0, during: 0, failures: [] };
  try {
    const tokenRes = await request(`${base}/v2/token?account=jdoe&scope=repository:${PRIVATE}:pull&service=127.0.0.1`, {
      dispatcher: userAgent,
      headers: { authorization: `Basic ${Buffer.from('jdoe:secret').toString('base64')}` },
    });
    const token = (JSON.parse(await tokenRes.body.text()) as { token: string }).token;
    assert.equal(tokenRes.statusCode, 200);

    // podman: its own storage, logged in as jdoe, pulling and removing in a loop.
    const conf = join(capsule.dir, 'containers.conf');
    await writeFile(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n');
    await mkdir(join(capsule.dir, 'xdg'), { recursive: true });
    const env = { ...process.env, CONTAINERS_CONF: conf, HOME: capsule.dir, XDG_RUNTIME_DIR: join(capsule.dir, 'xdg') };
    const storage = ['--root', join(capsule.dir, 'pl', 'root'), '--runroot', join(capsule.dir, 'pl', 'run'), '--storage-driver', 'vfs'];
    const auth = join(capsule.dir, 'auth-load.json');
    const registryHost = `127.0.0.1:${capsule.frontEndPort}`;
    const login = await run('podman', [...storage, 'login', '--tls-verify=false', '--authfile', auth, '-u', 'jdoe', '--password-stdin', registryHost], env, 'secret\n');
    assert.equal(login.code, 0, login.stderr);

    let refreshing = true;
    let refreshes = 0;
    const perClient = new Array<number>(CLIENTS).fill(0);
    const refresher = (async () => {
      try {
        // At least REFRESHES rounds, and until every client has pulled 3 times during them, so
        // that the overlap does not depend on the machine's speed.
        while (refreshes < REFRESHES || perClient.some((n) => n < 3)) {
          await capsule.refresh();
          refreshes++;
        }
      } finally {
        refreshing = false;
      }
    })();
    const clients = Array.from({ length: CLIENTS }, async (_, i) => {
      const asHost = i % 2 === 1;
      do {
        await pullOnce(base, asHost ? hostAgent : userAgent, asHost ? {} : { authorization: `Bearer ${token}` }, expectDigest, tally);
        if (refreshing) {
          tally.during++;
          perClient[i]++;
        }
      } while (refreshing);
    });
    const podmanPulls: { code: number; stderr: string }[] = [];
    const podmanLoop = (async () => {
      do {
        podmanPulls.push(await run('podman', [...storage, 'pull', '--quiet', '--tls-verify=false', '--authfile', auth, `${registryHost}/${PRIVATE}:latest`], env));
        await run('podman', [...storage, 'rmi', '--force', `${registryHost}/${PRIVATE}:latest`], env);
      } while (refreshing);
    })();
    await Promise.all([refresher, ...clients, podmanLoop]);

    assert.ok(refreshes >= REFRESHES);
    assert.deepEqual(tally.failures.slice(0, 5), [], `${tally.failures.length} of ${tally.ok + tally.failures.length} pulls failed`);
    assert.ok(tally.during >= CLIENTS * 2, `only ${tally.during} pulls ran during the refreshes`);
    assert.ok(podmanPulls.length >= 1);
    assert.deepEqual(podmanPulls.filter((p) => p.code !== 0).map((p) => p.stderr), []);
  } finally {
    await Promise.all([userAgent.close(), hostAgent.close()]);
  }
}
