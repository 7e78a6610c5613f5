// A real MIT Kerberos KDC (Debian krb5-kdc) on 127.0.0.1 for the keytab-login test: realm database,
// principals and keytabs generated into a temp dir, configuration passed through KRB5_CONFIG and
// KRB5_KDC_PROFILE only (nothing under /etc is read or written).

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, freeUdpTcpPort, removeDir, requireCommand, startDaemon, stopDaemon, tempDir, waitFor, type Daemon } from '../lib/procs.ts';

export interface Kdc {
  readonly dir: string;
  readonly realm: string;
  /** krb5.conf for clients (set KRB5_CONFIG to it). */
  readonly krb5Conf: string;
  /** Add a principal with a random key and export it to a new keytab; returns the keytab path. */
  addPrincipal(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startKdc(realm = 'EXAMPLE.TEST'): Promise<Kdc> {
  const krb5kdc = requireCommand('krb5kdc');
  const kdb5util = requireCommand('kdb5_util');
  const kadmin = requireCommand('kadmin.local');
  const dir = await tempDir('kdc');
  const port = await freeUdpTcpPort();
  const krb5Conf = join(dir, 'krb5.conf');
  const kdcConf = join(dir, 'kdc.conf');
  await writeFile(
    krb5Conf,
    `[libdefaults]
  default_realm = ${realm}
  dns_lookup_realm = false
  dns_lookup_kdc = false
  rdns = false
  dns_canonicalize_hostname = false
  udp_preference_limit = 1
[realms]
  ${realm} = {
    kdc = 127.0.0.1:${port}
  }
[domain_realm]
  localhost = ${realm}
`,
  );
  await writeFile(
    kdcConf,
    `[kdcdefaults]
  kdc_listen = 127.0.0.1:${port}
  kdc_tcp_listen = 127.0.0.1:${port}
[realms]
  ${realm} = {
    database_name = ${join(dir, 'principal')}
    key_stash_file = ${join(dir, 'stash')}
    acl_file = ${join(dir, 'kadm5.acl')}
    kdc_listen = 127.0.0.1:${port}
    kdc_tcp_listen = 127.0.0.1:${port}
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }
[logging]
  kdc = FILE:${join(dir, 'kdc-file.log')}
`,
  );
  await writeFile(join(dir, 'kadm5.acl'), '');
  const env = { ...process.env, KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf };
  let daemon: Daemon | undefined;
  try {
    await execFileP(kdb5util, ['-r', realm, 'create', '-s', '-P', 'master-key-for-tests'], { env });
    daemon = startDaemon('krb5kdc', krb5kdc, ['-n', '-r', realm], dir, env);
    const d = daemon;
    await waitFor('krb5kdc listening', async () => {
      if (d.exited) throw new Error(d.log());
      const { stdout } = await execFileP('ss', ['-Hltn', `sport = :${port}`]);
      return stdout.includes(`127.0.0.1:${port}`);
    }, 15_000);
  } catch (err) {
    await stopDaemon(daemon);
    await removeDir(dir);
    throw err;
  }
  const started = daemon;
  let n = 0;
  return {
    dir,
    realm,
    krb5Conf,
    addPrincipal: async (name) => {
      const keytab = join(dir, `keytab-${n++}`);
      await execFileP(kadmin, ['-r', realm, '-q', `addprinc -randkey ${name}@${realm}`], { env });
      await execFileP(kadmin, ['-r', realm, '-q', `ktadd -k ${keytab} ${name}@${realm}`], { env });
      return keytab;
    },
    stop: async () => {
      await stopDaemon(started);
      await removeDir(dir);
    },
  };
}
