// A Kerberos realm and a GSS-TSIG BIND for tests: an MIT KDC (krb5kdc) with a realm created by
// kdb5_util in a temporary directory, on a free loopback port, configured only through
// KRB5_CONFIG / KRB5_KDC_PROFILE files of that directory (the system's krb5.conf is never read or
// changed); principals and keytabs made with kadmin.local; and a BIND named with
// tkey-gssapi-keytab whose update-policy grants chosen principals.
//
// No host name needs to resolve: nsupdate derives the server's principal from the zone's SOA
// (DNS/ns1.<zone>@REALM) and sends to the address given by `server`; krb5.conf turns off reverse
// lookups and canonicalisation.

import { mkdir, writeFile, readFile, rm } from 'node:fs/promises';
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

export const REALM = 'GSS.TEST';
export const ZONE = 'gss.test';
export const REV4 = '2.0.192.in-addr.arpa';
export const NS_PRINCIPAL = `DNS/ns1.${ZONE}@${REALM}`;

export interface GssEnv {
  dir: string;
  kdcPort: number;
  dnsPort: number;
  /** krb5.conf of the realm: give it to the proxy as KRB5_CONFIG. */
  krb5Conf: string;
  /** Principals granted by named's update-policy (and the keytab of each). */
  keytab(principal: string): string;
  /** Create a principal with a random key and export it to its own keytab. */
  addPrincipal(name: string, opts?: { maxLife?: string }): Promise<string>;
  deletePrincipal(name: string): Promise<void>;
  /** New key for named's principal (a new kvno only in its keytab), and named restarted with it. */
  rotateServerKey(granted: readonly string[]): Promise<void>;
  kadmin(query: string): Promise<string>;
  startKdc(): Promise<void>;
  stopKdc(): Promise<void>;
  /** Count of AS requests (kinit) the KDC answered for `principal`, from its log. */
  asRequests(principal: string): Promise<number>;
  startNamed(granted: readonly string[]): Promise<void>;
  stopNamed(): Promise<void>;
  dig(name: string, type: string): Promise<string[]>;
  /** Every record of the forward zone (AXFR, allowed from 127.0.0.1 only). */
  axfr(): Promise<string[]>;
  namedLog(): Promise<string>;
  close(): Promise<void>;
}

const SOA = `$TTL 300
@   IN SOA ns1.${ZONE}. hostmaster.${ZONE}. ( 1 3600 600 86400 300 )
    IN NS  ns1.${ZONE}.
`;

export async function startGssEnv(): Promise<GssEnv> {
  const krb5kdc = requireCommand('krb5kdc');
  const kdb5Util = requireCommand('kdb5_util');
  const kadminLocal = requireCommand('kadmin.local');
  const named = requireCommand('named');
  const dig = requireCommand('dig');
  requireCommand('kinit');
  requireCommand('nsupdate');
  const dir = await tempDir('spgss');
  let kdc: Daemon | undefined;
  let bind: Daemon | undefined;
  const keytabs = new Map<string, string>();
  const kdcPort = await freeUdpTcpPort();
  const dnsPort = await freeUdpTcpPort();
  const krb5Conf = join(dir, 'krb5.conf');
  const kdcConf = join(dir, 'kdc.conf');
  const kdcLog = join(dir, 'kdc', 'kdc.log');
  const env = { ...process.env, KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf };

  const close = async (): Promise<void> => {
    await stopDaemon(bind);
    await stopDaemon(kdc);
    await removeDir(dir);
  };

  const kadmin = async (query: string): Promise<string> => {
    const { stdout } = await execFileP(kadminLocal, ['-q', query], { env, timeout: 20_000 });
    return stdout;
  };

  const addPrincipal = async (name: string, opts: { maxLife?: string } = {}): Promise<string> => {
    const life = opts.maxLife ? ` -maxlife "${opts.maxLife}"` : '';
    // Pre-authentication required, as Active Directory does: only a client holding the key gets a
    // ticket issued, so the KDC log's ISSUE lines count real kinits (GSS-API's own futile refresh
    // attempts of nearly expired tickets end at PREAUTH_REQUIRED).
    await kadmin(`addprinc -randkey +requires_preauth${life} ${name}`);
    const keytab = join(dir, 'keytabs', `${name.replace(/[^A-Za-z0-9]/g, '_')}.keytab`);
    await kadmin(`ktadd -k ${keytab} ${name}`);
    keytabs.set(name, keytab);
    return keytab;
  };

  try {
    await mkdir(join(dir, 'kdc'));
    await mkdir(join(dir, 'keytabs'));
    await mkdir(join(dir, 'zones'));
    await mkdir(join(dir, 'run'));
    await writeFile(
      krb5Conf,
      `[libdefaults]
  default_realm = ${REALM}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
  dns_canonicalize_hostname = false
  udp_preference_limit = 1
  kdc_timesync = 0
[realms]
  ${REALM} = {
    kdc = 127.0.0.1:${kdcPort}
  }
[domain_realm]
  .${ZONE} = ${REALM}
  ${ZONE} = ${REALM}
`,
    );
    await writeFile(
      kdcConf,
      `[kdcdefaults]
  kdc_ports = ${kdcPort}
  kdc_tcp_ports = ${kdcPort}
[realms]
  ${REALM} = {
    database_name = ${join(dir, 'kdc', 'principal')}
    key_stash_file = ${join(dir, 'kdc', 'stash')}
    acl_file = ${join(dir, 'kdc', 'kadm5.acl')}
    max_life = 10h
    supported_enctypes = aes256-cts-hmac-sha1-96:normal
  }
[logging]
  kdc = FILE:${kdcLog}
`,
    );
    // The master password only protects this throw-away database (stash file next to it).
    await execFileP(kdb5Util, ['create', '-s', '-r', REALM, '-P', 'test-master-password'], { env, timeout: 30_000 });
    await addPrincipal(NS_PRINCIPAL);
    await writeFile(join(dir, 'zones', 'fwd'), `${SOA}ns1 IN A 127.0.0.1\n`);
    await writeFile(join(dir, 'zones', 'rev4'), SOA);
  } catch (e) {
    await close();
    throw e;
  }

  const g: GssEnv = {
    dir,
    kdcPort,
    dnsPort,
    krb5Conf,
    keytab(principal) {
      const k = keytabs.get(principal);
      if (!k) throw new Error(`no keytab for ${principal}`);
      return k;
    },
    addPrincipal,
    async deletePrincipal(name) {
      await kadmin(`delprinc -force ${name}`);
    },
    kadmin,
    async rotateServerKey(granted) {
      await rm(g.keytab(NS_PRINCIPAL), { force: true });
      await kadmin(`ktadd -k ${g.keytab(NS_PRINCIPAL)} ${NS_PRINCIPAL}`);
      await g.startNamed(granted);
    },
    async startKdc() {
      const d = startDaemon('krb5kdc', krb5kdc, ['-n', '-P', join(dir, 'kdc', 'kdc.pid')], dir, env);
      kdc = d;
      await waitForDaemon(d, `krb5kdc on 127.0.0.1:${kdcPort}`, async () => {
        const { stdout } = await execFileP('ss', ['-Hltn', `sport = :${kdcPort}`]);
        return stdout.includes('LISTEN');
      });
    },
    async stopKdc() {
      await stopDaemon(kdc);
      kdc = undefined;
    },
    async asRequests(principal) {
      let log = '';
      try {
        log = await readFile(kdcLog, 'utf8');
      } catch {
        return 0;
      }
      return log.split('\n').filter((l) => l.includes('AS_REQ') && l.includes('ISSUE') && l.includes(` ${principal} for krbtgt/`)).length;
    },
    async startNamed(granted) {
      await stopDaemon(bind);
      for (const f of ['fwd', 'rev4']) {
        await rm(join(dir, 'run', `${f}.jnl`), { force: true });
        await writeFile(join(dir, 'run', f), await readFile(join(dir, 'zones', f)));
      }
      const policy = granted.map((p) => `grant "${p}" zonesub ANY;`).join(' ');
      const zone = (name: string, file: string): string =>
        `zone "${name}" { type primary; file "${join(dir, 'run', file)}"; allow-transfer { 127.0.0.1; }; update-policy { ${policy} }; };\n`;
      const confFile = join(dir, 'named.conf');
      await writeFile(
        confFile,
        `options {
  directory "${join(dir, 'run')}";
  pid-file none;
  managed-keys-directory "${join(dir, 'run')}";
  listen-on port ${dnsPort} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
  tkey-gssapi-keytab "${g.keytab(NS_PRINCIPAL)}";
};
controls { };
logging {
  channel testlog { file "${join(dir, 'run', 'named.log')}" versions 2 size 5m; severity info; print-time yes; print-category yes; };
  category default { testlog; };
  category update { testlog; };
  category update-security { testlog; };
  category security { testlog; };
};
${zone(ZONE, 'fwd')}${zone(REV4, 'rev4')}`,
      );
      await execFileP(requireCommand('named-checkconf'), [confFile]);
      const d = startDaemon('named', named, ['-f', '-c', confFile], dir, env);
      bind = d;
      await waitForDaemon(
        d,
        `named on 127.0.0.1:${dnsPort}`,
        async () => {
          const { stdout } = await execFileP(dig, ['+time=1', '+tries=1', '@127.0.0.1', '-p', String(dnsPort), ZONE, 'SOA', '+short']);
          return stdout.trim() !== '';
        },
        20_000,
        200,
      );
    },
    async stopNamed() {
      await stopDaemon(bind);
      bind = undefined;
    },
    dig: (name, type) => digShort(dig, dnsPort, name, type),
    async axfr() {
      const { stdout } = await execFileP(dig, ['+time=2', '+tries=2', '+nocmd', '+nocomments', '+nostats', '@127.0.0.1', '-p', String(dnsPort), ZONE, 'AXFR']);
      return stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';'));
    },
    async namedLog() {
      return readFile(join(dir, 'run', 'named.log'), 'utf8').catch(() => '');
    },
    close,
  };
  return g;
}
