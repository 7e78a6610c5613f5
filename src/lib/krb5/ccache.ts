// Reading an MIT Kerberos FILE credential cache (the format kinit writes; MIT documents it as
// "Credential cache file format"), to learn when the ticket-granting ticket expires without
// parsing `klist` output, whose dates follow the locale and the local time zone.
//
// Only versions 3 and 4 (big-endian; MIT has written version 4 since 1.4) are read.

export interface Principal {
  nameType: number;
  realm: string;
  components: string[];
}

export interface CachedCredential {
  client: Principal;
  server: Principal;
  /** Seconds since the epoch, as the KDC issued them. */
  authtime: number;
  starttime: number;
  endtime: number;
  renewTill: number;
}

export interface CredentialCache {
  version: number;
  defaultPrincipal: Principal;
  credentials: CachedCredential[];
}

export class CredentialCacheFormatError extends Error {
  constructor(message: string) {
    super(`credential cache: ${message}`);
    this.name = 'CredentialCacheFormatError';
  }
}

/** `primary/instance@REALM` */
export function principalText(p: Principal): string {
  return `${p.components.join('/')}@${p.realm}`;
}

class Reader {
  private pos = 0;
  private readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new CredentialCacheFormatError(`truncated at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const b = this.buf;
    const v = ((b[this.pos] << 24) >>> 0) + (b[this.pos + 1] << 16) + (b[this.pos + 2] << 8) + b[this.pos + 3];
    this.pos += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  counted(): Uint8Array {
    return this.bytes(this.u32());
  }
  text(): string {
    return Buffer.from(this.counted()).toString('utf8');
  }
  principal(): Principal {
    const nameType = this.u32();
    const count = this.u32();
    // A principal has a handful of components; a huge count means a corrupt file.
    if (count > 64) throw new CredentialCacheFormatError(`principal with ${count} components`);
    const realm = this.text();
    const components: string[] = [];
    for (let i = 0; i < count; i++) components.push(this.text());
    return { nameType, realm, components };
  }
}

export function parseCredentialCache(buf: Uint8Array): CredentialCache {
  const r = new Reader(buf);
  const magic = r.u8();
  const version = r.u8();
  if (magic !== 5 || (version !== 3 && version !== 4)) {
    throw new CredentialCacheFormatError(`unsupported file format 0x${magic.toString(16)}0${version.toString(16)} (versions 3 and 4 are read)`);
  }
  if (version === 4) r.bytes(r.u16()); // header tags (time offset): not needed here
  const defaultPrincipal = r.principal();
  const credentials: CachedCredential[] = [];
  while (!r.atEnd) {
    const client = r.principal();
    const server = r.principal();
    r.u16(); // enctype
    if (version === 3) r.u16(); // version 3 writes the enctype twice
    r.counted(); // session key
    const authtime = r.u32();
    const starttime = r.u32();
    const endtime = r.u32();
    const renewTill = r.u32();
    r.u8(); // is_skey
    r.u32(); // ticket flags
    const addresses = r.u32();
    for (let i = 0; i < addresses; i++) {
      r.u16();
      r.counted();
    }
    const authdata = r.u32();
    for (let i = 0; i < authdata; i++) {
      r.u16();
      r.counted();
    }
    r.counted(); // ticket
    r.counted(); // second ticket
    credentials.push({ client, server, authtime, starttime, endtime, renewTill });
  }
  return { version, defaultPrincipal, credentials };
}

/**
 * The validity of the default principal's ticket-granting ticket for its own realm, in ms since
 * the epoch; undefined when the cache holds none. (Configuration entries, whose server realm is
 * `X-CACHECONF:`, are not tickets and are skipped by the realm test.)
 */
export function ticketGrantingTicket(cache: CredentialCache): { start: number; end: number } | undefined {
  const realm = cache.defaultPrincipal.realm;
  let best: { start: number; end: number } | undefined;
  for (const c of cache.credentials) {
    const s = c.server;
    if (s.realm !== realm || s.components.length !== 2 || s.components[0] !== 'krbtgt' || s.components[1] !== realm) continue;
    const start = (c.starttime || c.authtime) * 1000;
    const end = c.endtime * 1000;
    if (!best || end > best.end) best = { start, end };
  }
  return best;
}
