// OpenAPI docs of the TFTP routes (spec tftp.md §1); merged by core/openapi/generate.ts.

import { empty, error, form, path, str, text } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation } from '../../core/openapi/types.ts';

const VARIANTS = ['syslinux', 'pxelinux', 'pxegrub', 'pxegrub2', 'ztp', 'poap', 'ipxe'];
const variant = path('variant', 'Boot loader (case-insensitive): syslinux, pxelinux, pxegrub, pxegrub2, ztp, poap or ipxe.', { type: 'string', enum: VARIANTS });
const mac = path('mac', 'MAC address: six (or twenty) colon-separated groups of hex digits.');
const refused = error('Invalid MAC or unknown variant (403, not 400: the reference\'s quirk).', 'Invalid MAC address: aa:bb');

const writeConfig = (legacy: boolean): OpenApiOperation => ({
  summary: legacy ? 'Write a host\'s syslinux boot config (legacy)' : 'Write a host\'s boot config',
  description: 'Writes every file the variant uses for the MAC (creating directories, overwriting files). Extra parameters are ignored.',
  parameters: legacy ? [mac] : [variant, mac],
  requestBody: form({ pxeconfig: str('The config file content.'), syslinux_config: str('Legacy name of pxeconfig.') }, [], 'One of pxeconfig/syslinux_config is required.'),
  responses: {
    '200': empty('Written (empty body).'),
    '400': error('No content, or an I/O error.', 'TFTP: Failed to create pxe config file: Invalid parameters received'),
    '403': refused,
  },
});

const deleteConfig = (legacy: boolean): OpenApiOperation => ({
  summary: legacy ? 'Delete a host\'s syslinux boot config (legacy)' : 'Delete a host\'s boot config',
  description: 'Removes every file of the variant for the MAC; missing files are skipped (still 200).',
  parameters: legacy ? [mac] : [variant, mac],
  responses: { '200': empty('Deleted (empty body).'), '400': error('An I/O error.', 'TFTP: Failed to delete pxe config file: Permission denied'), '403': refused },
});

const createDefault = (legacy: boolean): OpenApiOperation => ({
  summary: legacy ? 'Write the syslinux default menu (legacy)' : 'Write the default menu of a boot loader',
  parameters: legacy ? [] : [variant],
  requestBody: form({ menu: str('The menu content.') }, ['menu']),
  responses: {
    '200': empty('Written (empty body).'),
    '400': error('No menu, or an I/O error.', 'TFTP: Failed to create PXE default file: Default config not supplied'),
    ...(legacy ? {} : { '403': refused }),
  },
});

const docs: ModuleApiDocs = {
  'POST /tftp/fetch_boot_file': {
    summary: 'Download a boot file (kernel, initrd) into the TFTP root',
    description:
      'Answers at once; the download runs in the background (http, https, ftp; nfs sources are accepted and ignored), only when the remote file is newer, ' +
      'one at a time per file. The destination is `prefix` + (`-` unless it ends in `/`) + the last segment of `path`, inside tftproot.',
    requestBody: form({ prefix: str('Destination prefix relative to tftproot, e.g. `boot/centos-7-x86_64`.'), path: str('Source URL.') }, ['prefix', 'path']),
    responses: {
      '200': empty('Download started, or already running (empty body).'),
      '400': error('Missing parameters, a destination outside tftproot, or an unknown protocol.', 'TFTP: Failed to fetch boot file: TFTP destination outside of tftproot'),
      '503': {
        ...error('The download queue is full (Retry-After: 30).'),
        headers: { 'Retry-After': { description: 'Seconds.', schema: { type: 'integer' } } },
      },
    },
  },
  'POST /tftp/:variant/create_default': createDefault(false),
  'GET /tftp/:variant/:mac': {
    summary: 'Read a host\'s boot config',
    parameters: [variant, mac],
    responses: {
      '200': text('The first config file of the variant, verbatim.', 'DEFAULT linux', 'text/html'),
      '403': refused,
      '404': error('No config file.', 'TFTP: Failed to retrieve pxe config file: File /var/lib/tftpboot/pxelinux.cfg/01-aa-bb-cc-dd-ee-ff not found'),
    },
  },
  'POST /tftp/:variant/:mac': writeConfig(false),
  'DELETE /tftp/:variant/:mac': deleteConfig(false),
  'POST /tftp/create_default': createDefault(true),
  'POST /tftp/:mac': writeConfig(true),
  'DELETE /tftp/:mac': deleteConfig(true),
  'GET /tftp/serverName': {
    summary: 'The TFTP server name for DHCP next-server',
    description: 'JSON labelled `text/html` (the reference\'s quirk). An empty name lets Foreman choose.',
    responses: { '200': text('`{"serverName": "<tftp_servername>"}`.', '{"serverName":"192.0.2.10"}', 'text/html') },
  },
};

export default docs;
