// OMAPI authenticators: an HMAC over the signed part of each message (protocol.ts), keyed with
// the base64 secret from dhcpd.conf. dhcpd accepts the HMAC algorithms of its DST library.

import { createHmac, timingSafeEqual } from 'node:crypto';

/** dhcpd key algorithm name → Node digest and signature length. */
const ALGORITHMS: Record<string, { digest: string; length: number; wire: string }> = {
  'hmac-md5': { digest: 'md5', length: 16, wire: 'hmac-md5.SIG-ALG.REG.INT.' },
  'hmac-sha1': { digest: 'sha1', length: 20, wire: 'hmac-sha1.SIG-ALG.REG.INT.' },
  'hmac-sha224': { digest: 'sha224', length: 28, wire: 'hmac-sha224.SIG-ALG.REG.INT.' },
  'hmac-sha256': { digest: 'sha256', length: 32, wire: 'hmac-sha256.SIG-ALG.REG.INT.' },
  'hmac-sha384': { digest: 'sha384', length: 48, wire: 'hmac-sha384.SIG-ALG.REG.INT.' },
  'hmac-sha512': { digest: 'sha512', length: 64, wire: 'hmac-sha512.SIG-ALG.REG.INT.' },
};

export const SUPPORTED_ALGORITHMS: readonly string[] = Object.keys(ALGORITHMS);

export interface OmapiKey {
  name: string;
  /** base64, as written in dhcpd.conf. */
  secret: string;
  /** Default hmac-md5, the only one omshell (and the reference) uses. */
  algorithm?: string;
}

export class Authenticator {
  readonly name: string;
  readonly wireAlgorithm: string;
  readonly length: number;
  private readonly digest: string;
  private readonly key: Buffer;

  constructor(key: OmapiKey) {
    const alg = (key.algorithm ?? 'hmac-md5').toLowerCase().replace(/\.sig-alg\.reg\.int\.?$/, '');
    const spec = ALGORITHMS[alg];
    if (!spec) throw new Error(`omapi: unsupported key algorithm ${key.algorithm}; use one of ${SUPPORTED_ALGORITHMS.join(', ')}`);
    const secret = Buffer.from(key.secret, 'base64');
    if (secret.length === 0) throw new Error(`omapi: key ${key.name} has an empty or invalid base64 secret`);
    this.name = key.name;
    this.wireAlgorithm = spec.wire;
    this.length = spec.length;
    this.digest = spec.digest;
    this.key = secret;
  }

  sign(data: Buffer): Buffer {
    return createHmac(this.digest, this.key).update(data).digest();
  }

  verify(data: Buffer, signature: Buffer): boolean {
    const expected = this.sign(data);
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  }
}
