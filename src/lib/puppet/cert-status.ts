// Puppet CA `certificate_statuses` entries → the proxy's `GET /puppet/ca` shape (spec
// puppetca.md §1.1).

export interface CertificateInfo {
  state: string;
  fingerprint: string | null;
  serial: number | null;
  not_before: string | null;
  not_after: string | null;
}

/** Puppet writes times as `2031-11-20T21:57:41UTC`. */
export function parsePuppetTime(value: string): number {
  return Date.parse(value.replace(/ ?UTC$/, 'Z'));
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function proxyState(state: string, notAfter: string | null, now: number): string {
  if (state === 'requested') return 'pending';
  if (state === 'signed') {
    if (notAfter !== null) {
      const t = parsePuppetTime(notAfter);
      if (!Number.isNaN(t) && t < now) return 'revoked';
    }
    return 'valid';
  }
  return state;
}

/** Throws a plain Error when the body is not the array the CA API returns. */
export function certificateList(statuses: unknown, now: number = Date.now()): Record<string, CertificateInfo> {
  if (!Array.isArray(statuses)) throw new Error('unexpected Puppet CA response: not a JSON array');
  const entries: [string, CertificateInfo][] = [];
  for (const s of statuses) {
    if (typeof s !== 'object' || s === null || typeof (s as { name?: unknown }).name !== 'string') {
      throw new Error('unexpected Puppet CA response: entry without a name');
    }
    const e = s as Record<string, unknown>;
    const notAfter = str(e.not_after);
    entries.push([
      e.name as string,
      {
        state: proxyState(String(e.state), notAfter, now),
        fingerprint: str(e.fingerprint),
        serial: typeof e.serial_number === 'number' ? e.serial_number : null,
        not_before: str(e.not_before),
        not_after: notAfter,
      },
    ]);
  }
  // fromEntries defines own properties, so a certname such as `__proto__` stays a plain key.
  return Object.fromEntries(entries);
}
