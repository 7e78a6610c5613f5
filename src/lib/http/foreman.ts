// The proxy's HTTP client towards Foreman (templates, registration), with the TLS rules of spec
// README §5.4: CA = foreman_ssl_ca, else ssl_ca_file, and no verification at all when neither is
// set; client certificate = foreman_ssl_cert, else ssl_certificate, key likewise, each falling
// back on its own, presented only when both end up non-empty. Like the reference, a fallback only
// happens when the foreman_* value is absent: an empty string stays empty.

import { readFile } from 'node:fs/promises';
import { createHttpClient, type HttpClient } from './client.ts';

/** The subset of the global settings this needs (structurally matches GlobalSettings). */
export interface ForemanConnectionSettings {
  readonly foremanUrl: string | null;
  readonly foremanSslCa: string | null;
  readonly foremanSslCert: string | null;
  readonly foremanSslKey: string | null;
  readonly sslCaFile: string | null;
  readonly sslCertificate: string | null;
  readonly sslPrivateKey: string | null;
}

export interface ForemanTlsFiles {
  /** Verify Foreman's certificate against this file; undefined = no verification. */
  readonly caFile?: { readonly path: string; readonly setting: string };
  readonly certFile?: { readonly path: string; readonly setting: string };
  readonly keyFile?: { readonly path: string; readonly setting: string };
}

function pick(own: string | null, ownName: string, fallback: string | null, fallbackName: string) {
  const [value, setting] = own !== null ? [own, ownName] : [fallback, fallbackName];
  return value !== null && value !== '' ? { path: value, setting } : undefined;
}

/** Which files to use for TLS towards Foreman; empty when foreman_url is not https. */
export function foremanTlsFiles(s: ForemanConnectionSettings): ForemanTlsFiles {
  if (s.foremanUrl === null || !s.foremanUrl.toLowerCase().startsWith('https:')) return {};
  const caFile = pick(s.foremanSslCa, 'foreman_ssl_ca', s.sslCaFile, 'ssl_ca_file');
  const certFile = pick(s.foremanSslCert, 'foreman_ssl_cert', s.sslCertificate, 'ssl_certificate');
  const keyFile = pick(s.foremanSslKey, 'foreman_ssl_key', s.sslPrivateKey, 'ssl_private_key');
  const both = certFile !== undefined && keyFile !== undefined;
  return {
    ...(caFile ? { caFile } : {}),
    ...(both ? { certFile, keyFile } : {}),
  };
}

async function readSetting(file: { path: string; setting: string }): Promise<Buffer> {
  try {
    return await readFile(file.path);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot read ${file.setting} '${file.path}' for connections to Foreman: ${reason}`, { cause: err });
  }
}

export interface ForemanClientOptions {
  timeoutMs: number;
  connections: number;
}

/**
 * A pooled client for Foreman. The TLS files are read once here (the reference rereads them per
 * request); an unreadable file is reported at start-up, naming the setting.
 */
export async function createForemanClient(s: ForemanConnectionSettings, options: ForemanClientOptions): Promise<HttpClient> {
  if (s.foremanUrl === null) throw new Error('missing :foreman_url: from configuration.');
  const files = foremanTlsFiles(s);
  const [ca, cert, key] = await Promise.all([
    files.caFile ? readSetting(files.caFile) : undefined,
    files.certFile ? readSetting(files.certFile) : undefined,
    files.keyFile ? readSetting(files.keyFile) : undefined,
  ]);
  return createHttpClient({
    baseUrl: s.foremanUrl,
    verify: ca !== undefined,
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    timeoutMs: options.timeoutMs,
    connections: options.connections,
  });
}
