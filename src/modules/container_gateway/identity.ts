// Host identity from a client certificate (spec §2.4, fault §6.2). A certificate counts only when
// it comes from a source we can trust, i.e. the TLS peer of our own connection, or the
// `X-RHSM-SSL-Client-Cert` header sent by a configured front end (Apache, HAProxy) whose address
// is listed in `trusted_front_ends`. It is then verified against the configured host CA (issuer
// signature) and its validity period. The identity is the first CN of the subject (the consumer
// UUID). The header from anyone else is ignored, as if absent.
//
// Parsing and verifying a certificate is synchronous crypto, so results are cached per
// certificate text (a host sends the same certificate on every request); the validity period is
// re-checked on every use.

import { X509Certificate, createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export type CertificateCheck = { uuid: string } | { invalid: string };

interface Checked {
  readonly result: CertificateCheck;
  readonly notBefore: number;
  readonly notAfter: number;
}

const CACHE_SIZE = 2000;

export class HostCertificateVerifier {
  readonly #cas: X509Certificate[];
  readonly #cache = new Map<string, Checked>();

  /** `caPem`: one or more PEM certificates (the Candlepin / katello-default-ca bundle). */
  constructor(caPem: string | undefined) {
    this.#cas = caPem ? splitPem(caPem).map((pem) => new X509Certificate(pem)) : [];
  }

  get configured(): boolean {
    return this.#cas.length > 0;
  }

  /** Verify a DER certificate or its PEM / bare base64 text. */
  check(input: Buffer | string, nowMs = Date.now()): CertificateCheck {
    const key = typeof input === 'string' ? input : createHash('sha256').update(input).digest('base64');
    let hit = this.#cache.get(key);
    if (!hit) {
      hit = this.#verify(input);
      if (this.#cache.size >= CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(key, hit);
    }
    if ('invalid' in hit.result) return hit.result;
    if (nowMs < hit.notBefore) return { invalid: 'client certificate is not yet valid' };
    if (nowMs > hit.notAfter) return { invalid: 'client certificate has expired' };
    return hit.result;
  }

  #verify(input: Buffer | string): Checked {
    const fail = (invalid: string): Checked => ({ result: { invalid }, notBefore: 0, notAfter: 0 });
    let der: Buffer;
    if (typeof input === 'string') {
      const body = input.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return fail('client certificate is not PEM or base64');
      der = Buffer.from(body, 'base64');
    } else der = input;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      return fail('client certificate could not be parsed');
    }
    if (this.#cas.length === 0) return fail('no host CA is configured (host_certificate_ca_file), so host certificates cannot be verified');
    const issuer = this.#cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
    if (!issuer) return fail('client certificate is not signed by the host CA');
    const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1]?.trim();
    if (!cn) return fail('client certificate has no CN');
    return { result: { uuid: cn }, notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
  }
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The DER certificate of our own TLS peer, when the connection is TLS and one was presented. */
export function tlsPeerCertificate(socket: unknown): Buffer | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function') return undefined;
  const cert = tls.getPeerCertificate(false);
  return cert && cert.raw && cert.raw.length > 0 ? cert.raw : undefined;
}

/** IPv4-mapped IPv6 addresses compare as IPv4. */
export function normaliseAddress(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
