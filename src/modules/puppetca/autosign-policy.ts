// Puppet's policy-based autosigning executable (Puppet's `autosign = <path>` setting): Puppet runs
// it with the certname as its argument and the PEM CSR on stdin, and signs when it exits 0. It
// asks the proxy's `POST /puppet/ca/validate`, which the token provider answers.
//
//   node autosign-policy.ts --url https://proxy.example.com:8443 \
//     [--ca /etc/foreman-proxy/ssl_ca.pem --cert …/ssl_cert.pem --key …/ssl_key.pem] [--timeout 30] <certname>
//
// Exit status: 0 sign, 1 refused or error (the reason goes to stderr, which Puppet logs).

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createHttpClient } from '../../lib/http/client.ts';

const MAX_CSR_BYTES = 64 * 1024;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_CSR_BYTES) throw new Error(`CSR on stdin is larger than ${MAX_CSR_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      url: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      timeout: { type: 'string', default: '30' },
    },
    allowPositionals: true,
  });
  if (!values.url) throw new Error('--url is required (the proxy URL, e.g. https://proxy.example.com:8443)');
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new Error(`--timeout must be a positive number of seconds, got ${JSON.stringify(values.timeout)}`);
  const certname = positionals[0] ?? '(unknown)';
  const csr = await readStdin();
  const url = new URL('puppet/ca/validate', values.url.endsWith('/') ? values.url : `${values.url}/`);
  // The proxy's certificate is always verified: against --ca when given, else the system CAs.
  const client = createHttpClient({
    verify: true,
    ...(values.ca ? { ca: await readFile(values.ca) } : {}),
    ...(values.cert && values.key ? { cert: await readFile(values.cert), key: await readFile(values.key) } : {}),
    timeoutMs,
    connections: 1,
  });
  try {
    const res = await client.request({
      method: 'POST',
      path: url.href,
      body: csr,
      headers: { 'content-type': 'application/pkcs10', accept: 'application/json' },
    });
    const text = await res.text();
    if (res.status === 200) return 0;
    process.stderr.write(`autosign refused for ${JSON.stringify(certname)}: proxy answered ${res.status} ${text}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`autosign check failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
