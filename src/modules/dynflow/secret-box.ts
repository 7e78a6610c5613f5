// Seals task secrets (SSH passwords, key passphrases, sudo passwords) before they are stored:
// AES-256-GCM with a random 96-bit nonce per message and the task id as additional data, so a
// sealed value copied onto another task does not open. The key comes from `secrets_key_file`
// (shared by replicas and kept across restarts) or is random per process (then secrets of tasks
// interrupted by a restart cannot be opened, and those tasks fail with a clear message).
// Sealing runs on small inputs; the key derivation (scrypt) is asynchronous and runs once.

import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { readFile } from 'node:fs/promises';

const VERSION = 'v1';

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

export class SecretBox {
  private readonly key: Buffer;
  /** Whether the key survives a restart (a key file) or is this process's own. */
  readonly persistent: boolean;

  private constructor(key: Buffer, persistent: boolean) {
    this.key = key;
    this.persistent = persistent;
  }

  /** A random key, valid for this process only. */
  static ephemeral(): SecretBox {
    return new SecretBox(randomBytes(32), false);
  }

  /**
   * A key from a file: 32 raw bytes, or 64 hex characters, or any other text of at least 16
   * characters (a passphrase, stretched with scrypt). Surrounding whitespace is ignored.
   */
  static async fromFile(path: string): Promise<SecretBox> {
    let raw: Buffer;
    try {
      raw = await readFile(path);
    } catch (err) {
      throw new SecretBoxError(`cannot read secrets_key_file '${path}': ${(err as Error).message}`);
    }
    if (raw.length === 32) return new SecretBox(raw, true);
    const text = raw.toString('utf8').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) return new SecretBox(Buffer.from(text, 'hex'), true);
    if (text.length < 16) throw new SecretBoxError(`secrets_key_file '${path}' holds ${text.length} characters; it needs 32 raw bytes, 64 hex characters or a passphrase of at least 16 characters`);
    const key = await new Promise<Buffer>((resolve, reject) => {
      scrypt(text, 'foreman-proxy dynflow secrets', 32, (err, derived) => (err ? reject(err) : resolve(derived)));
    });
    return new SecretBox(key, true);
  }

  /** `v1.<nonce>.<tag>.<ciphertext>` (base64url parts). */
  seal(secrets: Record<string, unknown>, taskId: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(taskId, 'utf8'));
    const body = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
    return [VERSION, nonce.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  /** Throws SecretBoxError when the value was sealed with another key or for another task. */
  open(sealed: string, taskId: string): Record<string, unknown> {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretBoxError('the sealed secrets have an unknown format');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(parts[1] as string, 'base64url'));
      decipher.setAAD(Buffer.from(taskId, 'utf8'));
      decipher.setAuthTag(Buffer.from(parts[2] as string, 'base64url'));
      const clear = Buffer.concat([decipher.update(Buffer.from(parts[3] as string, 'base64url')), decipher.final()]).toString('utf8');
      return JSON.parse(clear) as Record<string, unknown>;
    } catch {
      throw new SecretBoxError(
        this.persistent
          ? 'the task secrets cannot be opened with the key of secrets_key_file (was the key changed?)'
          : 'the task secrets were sealed by an earlier run of the proxy and are gone (set secrets_key_file to keep them across restarts)',
      );
    }
  }
}
