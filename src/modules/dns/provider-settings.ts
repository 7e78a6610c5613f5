// Settings every DNS provider reads the same way, with errors naming the provider and the key.

/** dns_ttl from dns.yml (default 86400): whole seconds that fit a record's 31-bit TTL. */
export function recordTtl(provider: string, value: unknown): number {
  const ttl = Number(value ?? 86400);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
    throw new Error(`${provider}: dns_ttl must be a whole number of seconds, got '${String(value)}'`);
  }
  return ttl;
}

/**
 * The provider's deadline for one change, in ms, from a setting in whole seconds between 1 and
 * 55 (kept under the 60 s Foreman waits for the proxy).
 */
export function changeTimeoutMs(provider: string, key: string, value: unknown): number {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 55) {
    throw new Error(`${provider}: ${key} must be a whole number of seconds between 1 and 55, got '${String(value)}'`);
  }
  return seconds * 1000;
}
