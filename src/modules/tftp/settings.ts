// Typed view of tftp.yml. The reference keys come first; the boot-file and built-in server keys
// are ours and have defaults matching the reference's behaviour (curl's 3 retries 10 s apart and
// 3600 s cap) or conservative limits.

import type { SettingsSpec, Settings } from '../../core/module.ts';

export const TFTP_SETTINGS: SettingsSpec = {
  tftproot: { default: '/var/lib/tftpboot', type: 'string' },
  tftp_servername: { type: 'string' },
  tftp_connect_timeout: { default: 10, type: 'number' },
  verify_server_cert: { default: true, type: 'boolean', checks: ['boolean'] },
  // Boot-file downloads (our extension).
  boot_file_timeout: { default: 3600, type: 'number' },
  boot_file_idle_timeout: { default: 60, type: 'number' },
  boot_file_retries: { default: 3, type: 'integer' },
  boot_file_retry_delay: { default: 10, type: 'number' },
  boot_file_max_size: { default: 4 * 1024 * 1024 * 1024, type: 'integer' },
  boot_file_max_concurrent: { default: 8, type: 'integer' },
  boot_file_max_queued: { default: 256, type: 'integer' },
  // Built-in read-only TFTP server (our extension, off by default).
  builtin_server: { default: false, type: 'boolean', checks: ['boolean'] },
  builtin_server_bind: { default: '0.0.0.0', type: 'string' },
  builtin_server_port: { default: 69, type: 'integer' },
  builtin_server_max_transfers: { default: 200, type: 'integer' },
  builtin_server_timeout: { default: 1, type: 'number' },
  builtin_server_retries: { default: 5, type: 'integer' },
  builtin_server_max_blksize: { default: 65464, type: 'integer' },
  builtin_server_max_windowsize: { default: 64, type: 'integer' },
};

export interface TftpSettings {
  tftproot: string;
  tftpServername: string | null;
  connectTimeoutMs: number;
  verifyServerCert: boolean;
  bootFileDeadlineMs: number;
  bootFileIdleTimeoutMs: number;
  bootFileRetries: number;
  bootFileRetryDelayMs: number;
  bootFileMaxSize: number;
  bootFileMaxConcurrent: number;
  bootFileMaxQueued: number;
  builtin: {
    enabled: boolean;
    bind: string;
    port: number;
    maxTransfers: number;
    timeoutMs: number;
    retries: number;
    maxBlksize: number;
    maxWindowsize: number;
  };
}

function num(settings: Settings, key: string, min: number, max: number): number {
  const v = settings[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new Error(`Setting '${key}' must be a number between ${min} and ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Validated settings; throws naming the key, which fails the module at start. */
export function readTftpSettings(settings: Settings, _settingsDir: string): TftpSettings {
  const servername = settings.tftp_servername;
  return {
    tftproot: String(settings.tftproot),
    tftpServername: servername === null || servername === undefined ? null : String(servername),
    connectTimeoutMs: num(settings, 'tftp_connect_timeout', 0.001, 3600) * 1000,
    verifyServerCert: settings.verify_server_cert !== false,
    bootFileDeadlineMs: num(settings, 'boot_file_timeout', 0.001, 86400) * 1000,
    bootFileIdleTimeoutMs: num(settings, 'boot_file_idle_timeout', 0.001, 86400) * 1000,
    bootFileRetries: num(settings, 'boot_file_retries', 0, 100),
    bootFileRetryDelayMs: num(settings, 'boot_file_retry_delay', 0, 3600) * 1000,
    bootFileMaxSize: num(settings, 'boot_file_max_size', 1, Number.MAX_SAFE_INTEGER),
    bootFileMaxConcurrent: num(settings, 'boot_file_max_concurrent', 1, 1000),
    bootFileMaxQueued: num(settings, 'boot_file_max_queued', 0, 100000),
    builtin: {
      enabled: settings.builtin_server === true,
      bind: String(settings.builtin_server_bind),
      port: num(settings, 'builtin_server_port', 0, 65535),
      maxTransfers: num(settings, 'builtin_server_max_transfers', 1, 100000),
      timeoutMs: num(settings, 'builtin_server_timeout', 0.01, 255) * 1000,
      retries: num(settings, 'builtin_server_retries', 0, 100),
      maxBlksize: num(settings, 'builtin_server_max_blksize', 512, 65464),
      maxWindowsize: num(settings, 'builtin_server_max_windowsize', 1, 65535),
    },
  };
}
