// Issuing and checking autosign tokens (spec puppetca.md §3): RS512 JWTs `{certname, exp}` signed
// with the proxy's key, kept in a YAML list so each one can be used once and revoked.

import { generateKeyPair as generateKeyPairCb, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, jwtVerify, decodeJwt } from 'jose';
import { parse, stringify } from 'yaml';
import { writeFileAtomic } from '../../../../lib/fs/atomic.ts';
import { updateFile, withFileLock } from '../../../../lib/fs/file-lock.ts';

const generateKeyPair = promisify(generateKeyPairCb);
export const JWT_ALGORITHM = 'RS512';

export interface SigningKeys {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

function asRsa(pem: string, path: string): SigningKeys {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`cannot read the token signing key '${path}': ${err instanceof Error ? err.message : String(err)}`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new Error(`the token signing key '${path}' is a ${String(privateKey.asymmetricKeyType)} key; RS512 tokens need an RSA key`);
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/**
 * The key in `path`. With `generate`, a missing file gets a new 2048-bit RSA key (PKCS#1 PEM, as
 * the reference writes it), mode 0600, written atomically; generation runs off the event loop.
 */
export async function loadSigningKey(path: string, generate: boolean): Promise<SigningKeys> {
  if (generate) {
    await mkdir(dirname(path), { recursive: true });
    // Locked so two instances starting together do not each write a different key.
    await withFileLock(path, async () => {
      try {
        await readFile(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        const { privateKey } = await generateKeyPair('rsa', { modulusLength: 2048 });
        const pem = privateKey.export({ type: 'pkcs1', format: 'pem' });
        await writeFileAtomic(path, pem, { mode: 0o600 });
      }
    });
  }
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the token signing key '${path}': ${err instanceof Error ? err.message : String(err)}`);
  }
  return asRsa(pem, path);
}

export function parseTokens(text: string | undefined, path: string): string[] {
  if (text === undefined || text.trim() === '') return [];
  let data: unknown;
  try {
    data = parse(text, { version: '1.1' });
  } catch (err) {
    throw new Error(`${path} is not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data)) throw new Error(`${path} must hold a YAML list of tokens`);
  return data.filter((t): t is string => typeof t === 'string');
}

export function dumpTokens(tokens: readonly string[]): string {
  return tokens.length === 0 ? '--- []\n' : `---\n${stringify(tokens)}`;
}

export class TokenStore {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  /** Create the file (and its directories) as an empty list when missing. */
  async init(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await this.update((tokens) => [tokens, undefined]);
  }

  async read(): Promise<string[]> {
    try {
      return parseTokens(await readFile(this.path, 'utf8'), this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Locked read-modify-write of the list; `change` returns the new list and a result. */
  update<R>(change: (tokens: string[]) => [string[], R]): Promise<R> {
    return updateFile(
      this.path,
      (current) => {
        const before = parseTokens(current, this.path);
        const [after, result] = change(before);
        const unchanged = current !== undefined && after.length === before.length && after.every((t, i) => t === before[i]);
        return [unchanged ? undefined : dumpTokens(after), result];
      },
      { mode: 0o600 },
    );
  }
}

export interface TokenClaims {
  certname: string;
  exp: number;
}

export async function issueToken(keys: SigningKeys, certname: string, ttlMinutes: number, nowSeconds: number): Promise<string> {
  return new SignJWT({ certname })
    .setProtectedHeader({ alg: JWT_ALGORITHM })
    .setExpirationTime(nowSeconds + Math.round(ttlMinutes * 60))
    .sign(keys.privateKey);
}

/** The claims of a token signed by `keys` and not expired, or undefined. */
export async function verifyToken(keys: SigningKeys, token: string, nowSeconds: number): Promise<TokenClaims | undefined> {
  try {
    const { payload } = await jwtVerify(token, keys.publicKey, {
      algorithms: [JWT_ALGORITHM],
      currentDate: new Date(nowSeconds * 1000),
      requiredClaims: ['exp'],
    });
    if (typeof payload.certname !== 'string' || typeof payload.exp !== 'number') return undefined;
    return { certname: payload.certname, exp: payload.exp };
  } catch {
    return undefined;
  }
}

/** Claims read without checking the signature (to clean up tokens of a replaced key). */
export function unverifiedClaims(token: string): Partial<TokenClaims> {
  try {
    const p = decodeJwt(token);
    return {
      ...(typeof p.certname === 'string' ? { certname: p.certname } : {}),
      ...(typeof p.exp === 'number' ? { exp: p.exp } : {}),
    };
  } catch {
    return {};
  }
}
