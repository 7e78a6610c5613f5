// What the puppetca module needs from its providers: one autosign provider (chosen by
// use_provider) and the certificate provider puppetca_http_api, always present.

import type { CertificateInfo } from '../../lib/puppet/cert-status.ts';

export interface AutosignProvider {
  readonly kind: 'autosign';
  readonly id: string;
  /** Autosign entries, or the certnames of the valid tokens. */
  list(): Promise<string[]>;
  /** Returns the generated token for token-based providers, undefined otherwise. */
  add(certname: string, ttlMinutes: number | undefined): Promise<{ generated_token: string } | undefined>;
  /** Throws NotPresentError when there is nothing to remove and the provider cares. */
  remove(certname: string): Promise<void>;
  /** Present only on providers that can decide policy-based autosigning. */
  validateCsr?(csr: Buffer): Promise<boolean>;
}

export interface CertificateProvider {
  readonly kind: 'certificates';
  readonly id: string;
  list(): Promise<Record<string, CertificateInfo>>;
  sign(certname: string): Promise<void>;
  /** Revoke and delete; succeeds when the certificate does not exist. */
  clean(certname: string): Promise<void>;
}

export type PuppetCaProvider = AutosignProvider | CertificateProvider;

/** The autosign entry to remove is not there (→ 404). */
export class NotPresentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotPresentError';
  }
}
