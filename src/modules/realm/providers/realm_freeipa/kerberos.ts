// Keytab login: the reference gets a TGT from the keytab and posts a SPNEGO token to
// /ipa/session/login_kerberos. Node has no GSSAPI, so the system's MIT tools do it: `kinit -k`
// into a private credential cache, then `curl --negotiate` for the session cookie. Both are
// spawned without a shell and with a deadline; the cache dir is removed afterwards.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../../core/spawn.ts';
import { findCommand } from './which.ts';
import { sessionCookie, type IpaLogin } from './ipa-client.ts';

export interface KeytabLoginOptions {
  readonly keytab: string;
  readonly principal: string;
  readonly origin: string;
  readonly verify: boolean;
  /** CA bundle for curl when verifying (IPA's /etc/ipa/ca.crt); system store when undefined. */
  readonly caFile: string | undefined;
}

const CACHE_PROBLEM = 'Failed to initailize credentials cache from keytab'; // the reference's wording

/** The kinit and curl argv (exported for tests). */
export function keytabLoginArgv(o: KeytabLoginOptions, referer: string, timeoutMs: number): { kinit: string[]; curl: string[] } {
  const tls = o.verify ? (o.caFile ? ['--cacert', o.caFile] : []) : ['--insecure'];
  return {
    kinit: ['-k', '-t', o.keytab, '--', o.principal],
    curl: [
      '--silent', '--show-error', '--negotiate', '--user', ':', '--request', 'POST',
      '--header', `Referer: ${referer}`, '--dump-header', '-', '--output', '/dev/null',
      '--max-time', String(Math.max(1, Math.floor(timeoutMs / 1000))), ...tls,
      '--', `${o.origin}/ipa/session/login_kerberos`,
    ],
  };
}

function krbEnv(ccache: string): Record<string, string> {
  const env: Record<string, string> = { KRB5CCNAME: `FILE:${ccache}` };
  // An operator-provided Kerberos configuration of the proxy process applies to the tools too.
  if (process.env.KRB5_CONFIG) env.KRB5_CONFIG = process.env.KRB5_CONFIG;
  return env;
}

export function keytabLogin(o: KeytabLoginOptions): IpaLogin {
  return async (_http, referer, timeoutMs) => {
    const end = Date.now() + timeoutMs;
    const kinit = await findCommand('kinit');
    const curl = await findCommand('curl');
    if (!kinit) throw new Error(`${CACHE_PROBLEM}: kinit not found (install krb5-user)`);
    if (!curl) throw new Error('FreeIPA Kerberos login: curl not found');
    const dir = await mkdtemp(join(tmpdir(), 'realm-krb-'));
    try {
      const env = krbEnv(join(dir, 'ccache'));
      const k = await run(kinit, ['-k', '-t', o.keytab, '--', o.principal], { timeoutMs: Math.max(1, end - Date.now()), env });
      if (k.timedOut || k.code !== 0) {
        throw new Error(`${CACHE_PROBLEM}: ${k.timedOut ? 'kinit timed out' : (k.stderr || k.stdout).trim()}`);
      }
      const left = end - Date.now();
      if (left < 1000) throw new Error('FreeIPA Kerberos login failed: no time left for the session request');
      const c = await run(curl, keytabLoginArgv(o, referer, left - 500).curl, { timeoutMs: left, env });
      if (c.timedOut || c.code !== 0) {
        throw new Error(`FreeIPA Kerberos login failed: ${c.timedOut ? 'timed out' : c.stderr.trim()}`);
      }
      // With --negotiate curl may show a 401 challenge block before the final one: use the last.
      const blocks = c.stdout.split(/\r?\n\r?\n/).filter((b) => /^HTTP\//.test(b.trim()));
      const last = blocks[blocks.length - 1] ?? '';
      const status = /^HTTP\/[\d.]+\s+(\d+)/.exec(last.trim())?.[1];
      if (status !== '200') throw new Error(`FreeIPA Kerberos login failed: HTTP ${status ?? 'no answer'}`);
      const setCookies = last.split(/\r?\n/).filter((l) => /^set-cookie:/i.test(l)).map((l) => l.slice(l.indexOf(':') + 1).trim());
      const cookie = sessionCookie(setCookies);
      if (!cookie) throw new Error('FreeIPA Kerberos login returned no session cookie');
      return cookie;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
