// The TFTP module (spec tftp.md): manages PXE boot configs and boot files under the TFTP root,
// and optionally serves that root itself with the built-in TFTP server.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { Static } from '../../core/settings/schema.ts';
import { DownloadQueueFull, TftpError } from './errors.ts';

// The reference keys come first; the boot-file and built-in server keys are ours, with defaults
// matching the reference's behaviour (curl's 3 retries 10 s apart and 3600 s cap) or conservative
// limits.
export const TFTP_SETTINGS = setting.settings({
  tftproot: setting.string({
    default: '/var/lib/tftpboot',
    description:
      'Directory served by the TFTP server, where PXE configs and boot files are written. A relative path is resolved against the directory of settings.yml.',
  }),
  tftp_servername: setting.string({
    description: 'Value returned by GET /tftp/serverName; Foreman uses it as the DHCP next-server. Shown in /v2/features.',
    example: '192.168.122.1',
  }),
  tftp_connect_timeout: setting.number({
    default: 10,
    minimum: 0.001,
    maximum: 3600,
    unit: 'seconds',
    description: 'Connect timeout of a boot-file download (POST /tftp/fetch_boot_file).',
  }),
  verify_server_cert: setting.boolean({
    default: true,
    description: 'Verify the HTTPS certificate of the installation media server when downloading boot files.',
  }),
  boot_file_timeout: setting.number({
    default: 3600,
    minimum: 0.001,
    maximum: 86400,
    unit: 'seconds',
    extension: true,
    description: 'Deadline of one boot-file download, retries included.',
  }),
  boot_file_idle_timeout: setting.number({
    default: 60,
    minimum: 0.001,
    maximum: 86400,
    unit: 'seconds',
    extension: true,
    description: 'Longest silence while waiting for the headers or the next body bytes before a download attempt is abandoned.',
  }),
  boot_file_retries: setting.integer({
    default: 3,
    minimum: 0,
    maximum: 100,
    extension: true,
    description: 'Retries of a boot-file download on transient failures (connection errors, HTTP 408, 429, 500, 502, 503, 504).',
  }),
  boot_file_retry_delay: setting.number({
    default: 10,
    minimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'Delay between two attempts of a boot-file download.',
  }),
  boot_file_max_size: setting.integer({
    default: 4 * 1024 * 1024 * 1024,
    minimum: 1,
    maximum: Number.MAX_SAFE_INTEGER,
    unit: 'bytes',
    extension: true,
    description: 'Largest boot file accepted: a larger declared length is refused, a longer streamed body is cut off.',
  }),
  boot_file_max_concurrent: setting.integer({
    default: 8,
    minimum: 1,
    maximum: 1000,
    extension: true,
    description: 'Boot-file downloads running at once.',
  }),
  boot_file_max_queued: setting.integer({
    default: 256,
    minimum: 0,
    maximum: 100000,
    extension: true,
    description: 'Boot-file downloads allowed to wait for a slot; beyond that fetch_boot_file answers 503 with Retry-After.',
  }),
  builtin_server: setting.boolean({
    default: false,
    extension: true,
    description:
      'Run the built-in read-only TFTP server (RFC 1350 with blksize, tsize, timeout and windowsize) on the TFTP root. Do not run it on the same address and port as tftpd-hpa.',
  }),
  builtin_server_bind: setting.string({
    default: '0.0.0.0',
    extension: true,
    description: 'IP address the built-in server binds. Bind a specific address on multi-homed hosts so replies leave from the address the client asked.',
  }),
  builtin_server_port: setting.integer({
    default: 69,
    minimum: 0,
    maximum: 65535,
    extension: true,
    description: 'UDP port of the built-in server (0: any free port); port 69 needs root or CAP_NET_BIND_SERVICE.',
  }),
  builtin_server_max_transfers: setting.integer({
    default: 200,
    minimum: 1,
    maximum: 100000,
    extension: true,
    description: 'Transfers the built-in server runs at once; further requests get a "server busy" TFTP error.',
  }),
  builtin_server_timeout: setting.number({
    default: 1,
    minimum: 0.01,
    maximum: 255,
    unit: 'seconds',
    extension: true,
    description: 'Retransmission timeout of the built-in server when the client negotiates none.',
  }),
  builtin_server_retries: setting.integer({
    default: 5,
    minimum: 0,
    maximum: 100,
    extension: true,
    description: 'Retransmissions of the built-in server before a transfer is abandoned.',
  }),
  builtin_server_max_blksize: setting.integer({
    default: 65464,
    minimum: 512,
    maximum: 65464,
    unit: 'bytes',
    extension: true,
    description: 'Largest block size the built-in server grants.',
  }),
  builtin_server_max_windowsize: setting.integer({
    default: 64,
    minimum: 1,
    maximum: 65535,
    extension: true,
    description: 'Largest window (blocks sent before an acknowledgement) the built-in server grants.',
  }),
});

export type TftpSettings = Static<typeof TFTP_SETTINGS>;

export default defineModule({
  name: 'tftp',
  summary:
    "TFTP (/tftp): Foreman writes PXE boot configs (pxelinux, grub, grub2, iPXE, ZTP, POAP) and fetches kernels/initrds into the TFTP root. Serving the root over TFTP is tftpd-hpa's job unless the built-in server below is switched on.",
  prefixes: ['/tftp'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: TFTP_SETTINGS,
  exposedSettings: ['tftp_servername'],
  errors: {
    // A failed file operation is a 400 with the route's `TFTP: Failed to …: ` prefix, as the reference.
    untypedStatus: 400,
    translate: (err) => (err instanceof DownloadQueueFull ? TftpError.busy(`TFTP: Failed to fetch boot file: ${err.message}`) : undefined),
  },
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  create: async (ctx) => (await import('./api.ts')).tftpModule(ctx),
});
