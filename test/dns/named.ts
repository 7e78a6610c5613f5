// A real BIND `named` for tests: a fresh temp dir with a forward zone, IPv4 and IPv6 reverse
// zones and one TSIG key per HMAC algorithm, listening on a free loopback port.

import { mkdir, writeFile, copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digShort } from '../lib/dig.ts';
import {
  execFileP,
  freeUdpTcpPort,
  removeDir,
  requireCommand,
  startDaemon,
  stopDaemon,
  tempDir,
  waitForDaemon,
  type Daemon,
} from '../lib/procs.ts';
import { TSIG_ALGORITHMS, type TsigAlgorithm } from '../../src/lib/dns/tsig.ts';

export const ZONE = 'example.test';
export const REV4 = '2.0.192.in-addr.arpa';
export const REV6 = '8.b.d.0.1.0.0.2.ip6.arpa';

export interface Named {
  dir: string;
  port: number;
  /** Key file path per algorithm; the key name is `foreman-<alg>`. */
  keyFiles: Record<TsigAlgorithm, string>;
  /** A key file with the right name (hmac-sha256) but a different secret. */
  wrongSecretKeyFile: string;
  /** A key the server has never heard of. */
  unknownKeyFile: string;
  daemon: Daemon | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  dig(name: string, type: string, extra?: string[]): Promise<string[]>;
  cleanup(): Promise<void>;
}

const SOA = `$TTL 300
@   IN SOA ns1.${ZONE}. hostmaster.${ZONE}. ( 1 3600 600 86400 300 )
    IN NS  ns1.${ZONE}.
`;

export async function createNamed(): Promise<Named> {
  const namedBin = requireCommand('named');
  const keygen = requireCommand('tsig-keygen');
  const dig = requireCommand('dig');
  requireCommand('named-checkconf');
  const dir = await tempDir('dns');
  const port = await freeUdpTcpPort();
  await mkdir(join(dir, 'keys'));
  await mkdir(join(dir, 'zones'));
  await mkdir(join(dir, 'run'));
  const keyFiles = {} as Record<TsigAlgorithm, string>;
  for (const alg of TSIG_ALGORITHMS) {
    const { stdout } = await execFileP(keygen, ['-a', alg, `foreman-${alg}`]);
    keyFiles[alg] = join(dir, 'keys', `${alg}.key`);
    await writeFile(keyFiles[alg], stdout);
  }
  const other = await execFileP(keygen, ['-a', 'hmac-sha256', 'foreman-hmac-sha256']);
  const wrongSecretKeyFile = join(dir, 'keys', 'wrong-secret.key');
  await writeFile(wrongSecretKeyFile, other.stdout);
  const unknown = await execFileP(keygen, ['-a', 'hmac-sha256', 'nobody-knows-me']);
  const unknownKeyFile = join(dir, 'keys', 'unknown.key');
  await writeFile(unknownKeyFile, unknown.stdout);

  await writeFile(join(dir, 'zones', 'fwd'), `${SOA}ns1 IN A 127.0.0.1\n`);
  await writeFile(join(dir, 'zones', 'rev4'), SOA);
  await writeFile(join(dir, 'zones', 'rev6'), SOA);
  const allow = TSIG_ALGORITHMS.map((a) => `key "foreman-${a}";`).join(' ');
  const zone = (name: string, file: string): string => `zone "${name}" {
    type primary;
    file "${join(dir, 'run', file)}";
    allow-update { ${allow} };
};
`;
  const conf = `${TSIG_ALGORITHMS.map((a) => `include "${keyFiles[a]}";`).join('\n')}
options {
    directory "${join(dir, 'run')}";
    pid-file none;
    managed-keys-directory "${join(dir, 'run')}";
    listen-on port ${port} { 127.0.0.1; };
    listen-on-v6 port ${port} { ::1; };
    recursion no;
    allow-query { 127.0.0.0/8; ::1; };
    allow-transfer { none; };
    dnssec-validation no;
    notify no;
};
controls { };
logging {
    channel testlog { file "${join(dir, 'run', 'named.log')}" versions 2 size 5m; severity info; print-time yes; print-category yes; };
    category default { testlog; };
    category update { testlog; };
    category security { testlog; };
};
${zone(ZONE, 'fwd')}${zone(REV4, 'rev4')}${zone(REV6, 'rev6')}`;
  const confFile = join(dir, 'named.conf');
  await writeFile(confFile, conf);
  await execFileP(requireCommand('named-checkconf'), [confFile]);

  const n: Named = {
    dir,
    port,
    keyFiles,
    wrongSecretKeyFile,
    unknownKeyFile,
    daemon: undefined,
    async start() {
      // fresh zones each start: named rewrites them and keeps journals next to them
      for (const f of ['fwd', 'rev4', 'rev6']) {
        await rm(join(dir, 'run', `${f}.jnl`), { force: true });
        await copyFile(join(dir, 'zones', f), join(dir, 'run', f));
      }
      const daemon = startDaemon('named', namedBin, ['-f', '-c', confFile], dir);
      n.daemon = daemon;
      await waitForDaemon(
        daemon,
        `named on 127.0.0.1:${port}`,
        async () => {
          const { stdout } = await execFileP(dig, ['+time=1', '+tries=1', '@127.0.0.1', '-p', String(port), ZONE, 'SOA', '+short']);
          return stdout.trim() !== '';
        },
        20_000,
        200,
      );
    },
    async stop() {
      await stopDaemon(n.daemon);
      n.daemon = undefined;
    },
    dig: (name, type, extra = []) => digShort(dig, port, name, type, extra),
    async cleanup() {
      await n.stop();
      await removeDir(dir);
    },
  };
  return n;
}
