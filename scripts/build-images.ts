// `npm run build:images`: container images per bundle from the single executable, with podman and
// no registry: every image is FROM scratch and holds only the executable, the loader and
// libraries `ldd` lists for it, CA certificates and a passwd entry for the non-root user.
//
//   node scripts/build-images.ts [--executable FILE] [--tag-prefix localhost/smart-proxy] [BUNDLE...]
//
// BUNDLE is a directory of packaging/containers/ (all-in-one, provisioning, client; default: all
// of them). Without --executable the executable is built first (scripts/build-sea.ts). The images
// are `<prefix>-<bundle>:<version>`; they share their first layer (same files, same digest), so
// three bundles cost the storage of one. See packaging/containers/README.md for running them.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const execFileP = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
export const CONTAINERS_DIR = join(root, 'packaging/containers');

/** The unprivileged user the proxy runs as in the images (the reference's user name). */
export const PROXY_UID = 10001;
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Absolute paths of the loader and libraries a dynamically linked binary needs, from `ldd`. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await execFileP('ldd', [binary]);
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)";
    // linux-vdso has no file.
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m) libs.push(m[1]);
    else if (/not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return libs;
}

/**
 * A root file system for the executable: /usr/bin/smart-proxy, its libraries at the paths ldd
 * names (copied as regular files: the image has no /lib symlinks), CA certificates, passwd and
 * group with root and foreman-proxy, a sticky /tmp, and the directories the proxy writes to.
 * Also used by test/packaging/sea.test.ts to run the executable under `podman run --rootfs`.
 */
export async function stageRootfs(executable: string, dest: string): Promise<void> {
  await mkdir(join(dest, 'usr/bin'), { recursive: true });
  await copyFile(executable, join(dest, 'usr/bin/smart-proxy'));
  await chmod(join(dest, 'usr/bin/smart-proxy'), 0o755);
  for (const lib of await sharedLibraries(executable)) {
    await mkdir(join(dest, dirname(lib)), { recursive: true });
    await copyFile(lib, join(dest, lib)); // follows symlinks: the real file under the linked name
  }
  if (existsSync(CA_BUNDLE)) {
    await mkdir(join(dest, dirname(CA_BUNDLE)), { recursive: true });
    await copyFile(CA_BUNDLE, join(dest, CA_BUNDLE));
  }
  await mkdir(join(dest, 'etc/foreman-proxy'), { recursive: true });
  await writeFile(join(dest, 'etc/passwd'), `root:x:0:0:root:/root:/sbin/nologin\nforeman-proxy:x:${PROXY_UID}:${PROXY_UID}:Foreman Proxy:/var/lib/foreman-proxy:/sbin/nologin\n`);
  await writeFile(join(dest, 'etc/group'), `root:x:0:\nforeman-proxy:x:${PROXY_UID}:\n`);
  await mkdir(join(dest, 'tmp'), { recursive: true });
  await chmod(join(dest, 'tmp'), 0o1777);
}

async function podman(args: string[]): Promise<string> {
  const { stdout } = await execFileP('podman', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export async function bundles(): Promise<string[]> {
  const entries = await readdir(CONTAINERS_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && existsSync(join(CONTAINERS_DIR, e.name, 'Containerfile'))).map((e) => e.name).sort();
}

export interface BuiltImage {
  bundle: string;
  tag: string;
  /** Size podman reports for the image, in bytes. */
  bytes: number;
}

/** Builds one image per bundle from `executable`; the build context is a temporary directory. */
export async function buildImages(executable: string, names: readonly string[], tagPrefix: string): Promise<BuiltImage[]> {
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  const known = await bundles();
  for (const n of names) if (!known.includes(n)) throw new Error(`unknown bundle '${n}' (packaging/containers has: ${known.join(', ')})`);
  const context = await mkdtemp(join(tmpdir(), 'sp-image-'));
  try {
    await stageRootfs(executable, join(context, 'rootfs'));
    // Written by the proxy: owned by its user (COPY --chown in the Containerfiles).
    for (const d of ['state/foreman-proxy', 'state/tftpboot']) await mkdir(join(context, d), { recursive: true });
    const built: BuiltImage[] = [];
    for (const bundle of names) {
      const tag = `${tagPrefix}-${bundle}:${version}`;
      // No RUN step in the Containerfiles, so building needs no container runtime.
      // --layers=false: no intermediate images left behind; the COPY layers are identical across
      // bundles anyway and stored once.
      await podman(['build', '--quiet', '--pull=never', '--layers=false', '--build-arg', `VERSION=${version}`, '-f', join(CONTAINERS_DIR, bundle, 'Containerfile'), '-t', tag, context]);
      const bytes = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', tag])).trim());
      built.push({ bundle, tag, bytes });
    }
    return built;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { executable: { type: 'string' }, 'tag-prefix': { type: 'string', default: 'localhost/smart-proxy' } },
  });
  let executable = values.executable === undefined ? undefined : resolve(values.executable);
  let scratch: string | undefined;
  if (executable === undefined) {
    scratch = await mkdtemp(join(tmpdir(), 'sp-sea-'));
    const { buildSea } = await import('./build-sea.ts');
    executable = (await buildSea(join(scratch, 'smart-proxy'))).executable;
  }
  try {
    const names = positionals.length > 0 ? positionals : await bundles();
    for (const image of await buildImages(executable, names, values['tag-prefix'])) {
      console.log(`built ${image.tag} (${(image.bytes / 1e6).toFixed(1)} MB)`);
    }
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}
