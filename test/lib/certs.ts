// Test PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1/localhost, client
// certificates with chosen CNs, and a second, untrusted CA.

import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { execFileP, requireCommand } from './procs.ts';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** Issue a client certificate signed by this CA (or by `other` when given). */
  client(cn: string, opts?: { ca?: { cert: string; key: string } }): Promise<{ cert: string; key: string }>;
  /** A second CA the proxy does not trust. */
  otherCa(): Promise<{ cert: string; key: string }>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await execFileP(requireCommand('openssl'), args, { cwd });
}

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name} Test CA`], dir);
  return { cert, key };
}

let serial = 1000;

async function issue(dir: string, name: string, subject: string, ca: { cert: string; key: string }, ext: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(serial++), '-out', cert, '-days', '2', '-extfile', extFile], dir);
  return { cert, key };
}

export async function makePki(dir: string): Promise<Pki> {
  const ca = await makeCa(dir, 'ca');
  const server = await issue(dir, 'server', '/CN=localhost', ca, 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n');
  let other: { cert: string; key: string } | undefined;
  return {
    dir,
    caCert: ca.cert,
    caKey: ca.key,
    serverCert: server.cert,
    serverKey: server.key,
    client: (cn, opts) =>
      issue(dir, `client-${cn.replace(/[^A-Za-z0-9.-]/g, '_')}-${serial}`, `/CN=${cn}`, opts?.ca ?? ca, 'extendedKeyUsage=clientAuth\n'),
    otherCa: async () => (other ??= await makeCa(dir, 'other')),
  };
}

/**
 * Global settings for a proxy serving HTTPS on a free 127.0.0.1 port with this PKI's server
 * certificate, accepting client certificates issued by its CA.
 */
export function httpsSettings(pki: Pki): Record<string, unknown> {
  return {
    bind_host: ['127.0.0.1'],
    https_port: 0,
    ssl_certificate: pki.serverCert,
    ssl_private_key: pki.serverKey,
    ssl_ca_file: pki.caCert,
  };
}
