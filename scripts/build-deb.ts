// `npm run build:deb`: the foreman-proxy Debian package, built with dpkg-deb from the one-file
// executable (scripts/build-sea.ts), in the reference's file layout:
//
//   /usr/sbin/smart-proxy                               the executable
//   /usr/libexec/foreman-proxy/notify-socket-exec       the unit's notify-socket launcher
//   /lib/systemd/system/foreman-proxy.service           Type=notify, hardened
//   /usr/share/foreman-proxy/systemd/low-port.conf      drop-in for ports below 1024
//   /etc/foreman-proxy/settings.yml, settings.d/*.yml   conffiles (kept when edited)
//   /etc/logrotate.d/foreman-proxy                      conffile; rotation with USR1
//   /var/log/foreman-proxy, /var/lib/foreman-proxy      made by postinst, owned by foreman-proxy
//
//   node scripts/build-deb.ts [--executable dist-sea/smart-proxy] [--out dist-deb]
//                             [--version 3.13.0-1] [--compression zstd|xz|gzip|none]
//
// The packaging files are in packaging/debian/. settings.d/ is config/settings.d/ as written by
// `npm run docs`; settings.yml is config/settings.yml with the log going to
// /var/log/foreman-proxy/proxy.log.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const execFileP = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const packaging = join(root, 'packaging/debian');

export const PACKAGE_NAME = 'foreman-proxy';
export const DEFAULT_EXECUTABLE = join(root, 'dist-sea/smart-proxy');
const COMPRESSIONS = ['xz', 'gzip', 'zstd', 'none'] as const;
type Compression = (typeof COMPRESSIONS)[number];

export interface BuildDebOptions {
  executable: string;
  outDir: string;
  /** Debian version, e.g. 3.13.0-1. */
  version: string;
  compression: Compression;
  architecture?: string;
  /** A maintainer-side change of the packaged settings.yml (tests use it to make a new version
   * whose conffile differs from the one an administrator edited). */
  editSettingsYml?: (text: string) => string;
}

export class BuildDebError extends Error {}

/** The packaged settings.yml: the repository's example with the log in /var/log/foreman-proxy. */
export function packagedSettingsYml(example: string): string {
  const edits: [string, string][] = [
    ['# This copy runs out of the box on 127.0.0.1:8000 over plain HTTP: `npm start`.',
      '# Installed by the foreman-proxy package: plain HTTP on 127.0.0.1:8000 until TLS and listeners are set.'],
    [':log_file: STDOUT', ':log_file: /var/log/foreman-proxy/proxy.log'],
  ];
  let text = example;
  for (const [from, to] of edits) {
    const lines = text.split('\n');
    const at = lines.filter((l) => l === from).length;
    if (at !== 1) throw new BuildDebError(`config/settings.yml: expected the line '${from}' once, found it ${at} times; update packagedSettingsYml in scripts/build-deb.ts`);
    text = lines.map((l) => (l === from ? to : l)).join('\n');
  }
  return text;
}

async function debianArchitecture(): Promise<string> {
  try {
    return (await execFileP('dpkg', ['--print-architecture'])).stdout.trim();
  } catch {
    const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
    const arch = map[process.arch];
    if (!arch) throw new BuildDebError(`no Debian architecture known for ${process.arch}; pass --architecture`);
    return arch;
  }
}

async function checkExecutable(path: string): Promise<number> {
  const hint = `build it first: node scripts/build-sea.ts ${path}`;
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new BuildDebError(`the one-file executable ${path} does not exist; ${hint}`);
  }
  if (!info.isFile() || (info.mode & 0o111) === 0) throw new BuildDebError(`${path} is not an executable file; ${hint}`);
  const head = Buffer.alloc(4);
  const fh = await open(path, 'r');
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new BuildDebError(`${path} is not an ELF executable (a script or a placeholder?); ${hint}`);
  return info.size;
}

async function put(staging: string, path: string, content: string | { from: string }, mode: number): Promise<void> {
  const target = join(staging, path);
  await mkdir(dirname(target), { recursive: true });
  if (typeof content === 'string') await writeFile(target, content);
  else await copyFile(content.from, target);
  await chmod(target, mode);
}

async function diskUsageKiB(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += Math.ceil((await stat(join(entry.parentPath, entry.name))).size / 1024);
  }
  return total;
}

function control(o: { version: string; architecture: string; installedSizeKiB: number }): string {
  return [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${o.version}`,
    `Architecture: ${o.architecture}`,
    'Maintainer: smart-proxy-ts developers <smart-proxy-ts@localhost>',
    `Installed-Size: ${o.installedSizeKiB}`,
    // The executable is Node's own binary: glibc 2.28 symbols, libstdc++ and libgcc_s (ldd).
    'Depends: adduser, libc6 (>= 2.28), libgcc-s1, libstdc++6',
    'Recommends: logrotate',
    'Section: admin',
    'Priority: optional',
    'Homepage: https://theforeman.org/',
    'Description: Foreman Smart Proxy (TypeScript, one-file executable)',
    ' A drop-in replacement for the Foreman Smart Proxy: DHCP, DNS, TFTP, BMC, Puppet CA,',
    ' realm, templates, registration, remote execution and content modules, served over',
    ' HTTPS to Foreman. One executable with its own JavaScript runtime; no Ruby, no Node.',
    ' Runs as the foreman-proxy user under systemd (Type=notify, watchdog, hardened).',
    '',
  ].join('\n');
}

export async function buildDeb(o: BuildDebOptions): Promise<string> {
  if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(o.version)) throw new BuildDebError(`--version: not a Debian version: '${o.version}'`);
  await checkExecutable(o.executable);
  const architecture = o.architecture ?? (await debianArchitecture());
  const staging = await mkdtemp(join(tmpdir(), 'build-deb-'));
  try {
    await put(staging, 'usr/sbin/smart-proxy', { from: o.executable }, 0o755);
    await put(staging, 'usr/libexec/foreman-proxy/notify-socket-exec', { from: join(packaging, 'notify-socket-exec') }, 0o755);
    await put(staging, 'lib/systemd/system/foreman-proxy.service', { from: join(packaging, 'foreman-proxy.service') }, 0o644);
    await put(staging, 'usr/share/foreman-proxy/systemd/low-port.conf', { from: join(packaging, 'low-port.conf') }, 0o644);
    await put(staging, 'usr/share/doc/foreman-proxy/copyright', { from: join(packaging, 'copyright') }, 0o644);
    await put(staging, 'etc/logrotate.d/foreman-proxy', { from: join(packaging, 'logrotate') }, 0o644);

    const conffiles = ['/etc/logrotate.d/foreman-proxy'];
    const example = await readFile(join(root, 'config/settings.yml'), 'utf8');
    const settingsYml = packagedSettingsYml(example);
    await put(staging, 'etc/foreman-proxy/settings.yml', o.editSettingsYml ? o.editSettingsYml(settingsYml) : settingsYml, 0o640);
    conffiles.push('/etc/foreman-proxy/settings.yml');
    const moduleFiles = (await readdir(join(root, 'config/settings.d'))).filter((f) => f.endsWith('.yml')).sort();
    if (moduleFiles.length === 0) throw new BuildDebError('config/settings.d has no .yml files; run npm run docs');
    for (const f of moduleFiles) {
      await put(staging, `etc/foreman-proxy/settings.d/${f}`, { from: join(root, 'config/settings.d', f) }, 0o640);
      conffiles.push(`/etc/foreman-proxy/settings.d/${f}`);
    }
    // Settings may hold secrets; postinst gives the directories and files the foreman-proxy group.
    await chmod(join(staging, 'etc/foreman-proxy'), 0o750);
    await chmod(join(staging, 'etc/foreman-proxy/settings.d'), 0o750);

    const installedSizeKiB = await diskUsageKiB(staging);
    await put(staging, 'DEBIAN/control', control({ version: o.version, architecture, installedSizeKiB }), 0o644);
    await put(staging, 'DEBIAN/conffiles', `${conffiles.join('\n')}\n`, 0o644);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      await put(staging, `DEBIAN/${script}`, { from: join(packaging, script) }, 0o755);
    }
    // Directories made by mkdir above carry the umask; dpkg-deb wants 0755 (no group write).
    for (const entry of await readdir(staging, { withFileTypes: true, recursive: true })) {
      const path = join(entry.parentPath, entry.name);
      if (entry.isDirectory() && !path.startsWith(join(staging, 'etc/foreman-proxy'))) await chmod(path, 0o755);
    }
    await chmod(staging, 0o755);

    await mkdir(o.outDir, { recursive: true });
    const deb = join(o.outDir, `${PACKAGE_NAME}_${o.version}_${architecture}.deb`);
    await rm(deb, { force: true });
    await execFileP('dpkg-deb', ['--root-owner-group', `-Z${o.compression}`, '--build', staging, deb], { maxBuffer: 1 << 24 }).catch(
      (err: Error & { stderr?: string }) => {
        throw new BuildDebError(`dpkg-deb --build failed: ${err.stderr?.trim() || err.message}`);
      },
    );
    return deb;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { values } = parseArgs({
      options: {
        executable: { type: 'string', default: DEFAULT_EXECUTABLE },
        out: { type: 'string', default: join(root, 'dist-deb') },
        version: { type: 'string' },
        // zstd: 4 s and 42 MB for the 123 MB executable; xz: 30 MB but about 5 minutes on 2 cores.
        // dpkg reads zstd since 1.21.18 (Debian 12).
        compression: { type: 'string', default: 'zstd' },
        architecture: { type: 'string' },
      },
    });
    if (!(COMPRESSIONS as readonly string[]).includes(values.compression)) {
      throw new BuildDebError(`--compression: one of ${COMPRESSIONS.join(', ')}, got '${values.compression}'`);
    }
    const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    const deb = await buildDeb({
      executable: resolve(values.executable),
      outDir: resolve(values.out),
      version: values.version ?? `${version}-1`,
      compression: values.compression as Compression,
      architecture: values.architecture,
    });
    console.log(`built ${relative(process.cwd(), deb) || deb} (${((await stat(deb)).size / 1e6).toFixed(1)} MB)`);
  } catch (err) {
    process.stderr.write(`build-deb: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
