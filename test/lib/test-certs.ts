// A throw-away PKI made with the openssl CLI for TLS tests: one CA, a server certificate for
// 127.0.0.1/localhost, a client certificate signed by the CA, and a second CA that signs nothing
// we trust (to prove verification really happens).

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, requireCommand } from './procs.ts';

export interface TestPki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA unrelated to the others. */
  otherCaCert: string;
  otherCaKey: string;
}

async function openssl(args: string[]): Promise<void> {
  await execFileP(requireCommand('openssl'), args, { timeout: 60_000 });
}

async function makeCa(dir: string, name: string): Promise<[string, string]> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return [cert, key];
}

async function makeLeaf(dir: string, name: string, ca: [string, string], ext: string): Promise<[string, string]> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', csr, '-subj', `/CN=${name}`,
  ]);
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca[0], '-CAkey', ca[1], '-CAcreateserial',
    '-out', cert, '-days', '2', '-extfile', extFile,
  ]);
  return [cert, key];
}

export async function makeTestPki(dir: string): Promise<TestPki> {
  const ca = await makeCa(dir, 'test-ca');
  const other = await makeCa(dir, 'other-ca');
  const server = await makeLeaf(
    dir,
    'foreman.test',
    ca,
    'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  const client = await makeLeaf(dir, 'proxy.test', ca, 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  return {
    dir,
    caCert: ca[0],
    caKey: ca[1],
    serverCert: server[0],
    serverKey: server[1],
    clientCert: client[0],
    clientKey: client[1],
    otherCaCert: other[0],
    otherCaKey: other[1],
  };
}
