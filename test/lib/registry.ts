// A real container registry standing in for Pulp's registry in tests: Debian's docker-registry
// (the CNCF distribution registry, v2 API) on a loopback port with storage in a temp dir, behind
// HAProxy, which rewrites Pulp's `/pulpcore_registry/v2/…` to the registry's `/v2/…` (and the
// `Location` of its redirects back). Images are built by hand as OCI layouts (no image registry
// is reachable) and pushed with skopeo. Every daemon is started here and stopped by its PID.

import { mkdir, writeFile, readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execFileP, freeTcpPort, requireCommand, startDaemon, stopDaemon, waitForDaemon, type Daemon } from './procs.ts';

export interface RunningDaemon {
  readonly port: number;
  readonly daemon: Daemon;
  stop(): Promise<void>;
}

function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * docker-registry on 127.0.0.1 with filesystem storage under `dir`. With `redirectBlobsTo`, blob
 * GETs are answered with a redirect to that base URL + the blob's storage path (its `redirect`
 * storage middleware), as Pulp redirects to its content app; manifests are still served directly.
 */
export async function startRegistry(dir: string, options: { redirectBlobsTo?: string } = {}): Promise<RunningDaemon & { storage: string }> {
  const bin = requireCommand('docker-registry');
  const port = await freeTcpPort();
  const storage = join(dir, 'registry-storage');
  await mkdir(storage, { recursive: true });
  const config = join(dir, 'registry.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      ...(options.redirectBlobsTo ? ['middleware:', '  storage:', '    - name: redirect', '      options:', `        baseurl: ${options.redirectBlobsTo}`] : []),
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const daemon = startDaemon('docker-registry', bin, ['serve', config], dir);
  await waitForDaemon(daemon, `docker-registry on ${port}`, () => portOpen(port));
  return { port, daemon, storage, stop: () => stopDaemon(daemon) };
}

/** HAProxy with `config` (global/defaults are added), in the foreground, stopped by PID. */
export async function startHaproxy(dir: string, name: string, ports: readonly number[], config: string): Promise<RunningDaemon & { configFile: string }> {
  const bin = requireCommand('haproxy');
  const file = join(dir, `${name}.cfg`);
  await writeFile(
    file,
    `global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 10s
${config}
`,
  );
  await execFileP(bin, ['-c', '-q', '-f', file]).catch((err: Error & { stderr?: string }) => {
    throw new Error(`haproxy config ${file} invalid: ${err.stderr ?? err.message}`);
  });
  const daemon = startDaemon(name, bin, ['-db', '-f', file], dir);
  await waitForDaemon(daemon, `${name} (haproxy) on ${ports.join(', ')}`, async () => (await Promise.all(ports.map((p) => portOpen(p)))).every(Boolean));
  return { port: ports[0], daemon, configFile: file, stop: () => stopDaemon(daemon) };
}

/**
 * The Pulp stand-in: HAProxy on a loopback port serving `/pulpcore_registry/v2/…` from the
 * registry's `/v2/…`, as the capsule's Apache + pulpcore-api serve it to the gateway.
 */
export async function startPulpRegistryStandIn(dir: string, registryPort: number): Promise<RunningDaemon> {
  const port = await freeTcpPort();
  return startHaproxy(
    dir,
    'pulp-standin',
    [port],
    `frontend pulp
  bind 127.0.0.1:${port}
  http-request replace-path ^/pulpcore_registry(/.*) \\1
  http-response replace-header Location ^(https?://[^/]+)?/v2/(.*) \\1/pulpcore_registry/v2/\\2
  default_backend registry
backend registry
  server registry 127.0.0.1:${registryPort}
`,
  );
}

export interface OciImage {
  /** OCI layout directory (skopeo `oci:<dir>:<tag>`). */
  readonly layout: string;
  readonly tag: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layerDigest: string;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * A one-layer OCI image with `files` (path → content), built with tar + gzip, no daemon: enough for
 * registries and clients, which never run it.
 */
export async function makeOciImage(dir: string, name: string, files: Record<string, string>, tag = 'latest'): Promise<OciImage> {
  const root = join(dir, `${name}-rootfs`);
  const layout = join(dir, `${name}-oci`);
  await mkdir(root, { recursive: true });
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const tarFile = join(dir, `${name}-layer.tar`);
  await execFileP(requireCommand('tar'), ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', tarFile, '-C', root, '.']);
  const tar = await readFile(tarFile);
  await execFileP(requireCommand('gzip'), ['-n', '-k', '-f', tarFile]);
  const layer = await readFile(`${tarFile}.gz`);
  const put = async (b: Buffer): Promise<string> => {
    const d = sha256(b);
    await writeFile(join(layout, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layerDigest = await put(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/hello'] },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      history: [{ created_by: `test image ${name}` }],
    }),
  );
  const configDigest = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = await put(manifest);
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  await stat(layout);
  return { layout, tag, manifestDigest, configDigest, layerDigest };
}

/** Push an OCI layout into the registry as `<name>:<tag>` with skopeo. */
export async function pushImage(image: OciImage, registryPort: number, name: string): Promise<void> {
  await execFileP(requireCommand('skopeo'), ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image.layout}:${image.tag}`, `docker://127.0.0.1:${registryPort}/${name}:${image.tag}`], {
    env: { ...process.env, HOME: join(image.layout, '..') },
  });
}

/**
 * Stand-in for Pulp's content app (`/pulp/container/…` in production): serves the registry's
 * storage files at their storage path, the target of the registry's blob redirects. Records the
 * Host header of each request, so tests see where clients were sent.
 */
export async function startContentStandIn(storage: string, port: number): Promise<{ hosts: string[]; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const { createReadStream } = await import('node:fs');
  const { normalize } = await import('node:path');
  const hosts: string[] = [];
  const server = createServer((req, res) => {
    hosts.push(req.headers.host ?? '');
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path.includes('..')) {
      res.writeHead(400).end();
      return;
    }
    const file = createReadStream(join(storage, path));
    file.once('error', () => res.writeHead(404).end());
    file.once('open', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      file.pipe(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    hosts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
