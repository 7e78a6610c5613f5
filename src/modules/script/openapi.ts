// OpenAPI docs of the script (remote execution) routes (spec remote-execution.md §2.6, §5.6);
// merged by core/openapi/generate.ts. The task API itself is the dynflow module's.

import { arrayOf, empty, header, json, jsonBody, obj, path, str, text } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiResponse } from '../../core/openapi/types.ts';

const jsonError = (description: string, example: string): OpenApiResponse => json(description, obj({ error: str('The message.') }), { error: example });
const uuid = path('uuid', 'Pull job UUID.');
const notYours = empty('No such job, or a job of another host (empty body).');

const docs: ModuleApiDocs = {
  'GET /ssh/pubkey': {
    summary: "The proxy's SSH public key",
    description: 'Foreman stores it and puts it in hosts\' authorized_keys. Public.',
    responses: {
      '200': text('The public key file.', 'ssh-ed25519 AAAAC3Nza proxy@example\n'),
      '404': jsonError('The key file does not exist (the reference answered 500).', "SSH public key file /var/lib/foreman-proxy/ssh/id_rsa_foreman_proxy.pub doesn't exist"),
    },
  },
  'GET /ssh/ca_pubkey': {
    summary: 'The SSH CA public key that signed the proxy\'s key',
    description: 'Empty when `ssh_user_ca_public_key_file` is unset (Foreman reads that as "no CA"). Public.',
    responses: {
      '200': text('The CA public key, or an empty body.', ''),
      '404': jsonError('The configured file does not exist.', "SSH CA public key file /etc/ssh/ca.pub doesn't exist"),
    },
  },
  'POST /ssh/session': {
    summary: 'Cockpit web console session (raw connection upgrade)',
    description:
      'Not a WebSocket: with `Connection: upgrade` and `Upgrade: raw`, the connection becomes a byte pipe to `command` run over SSH on `hostname`. ' +
      'Success writes `Status: 101`, `Connection: upgrade`, `Upgrade: raw` lines (no HTTP status line, as the reference), then relays bytes both ways. ' +
      'Only when `cockpit_integration` is on.',
    parameters: [header('Connection', 'Must be `upgrade`.', true), header('Upgrade', 'Must contain `raw`.', true)],
    requestBody: jsonBody(
      obj(
        {
          hostname: str('Target host.'),
          command: str('Command to run (`cockpit-bridge`).'),
          ssh_user: str('Login user.'),
          ssh_port: { type: 'integer' },
          ssh_password: str('Password (never logged).'),
          ssh_key_passphrase: str('Key passphrase (never logged).'),
        },
        undefined,
        { required: ['hostname', 'command', 'ssh_user'] },
      ),
    ),
    responses: {
      '101': empty('Upgraded to a raw byte stream (written as `Status: 101` header lines).'),
      '400': text('No raw upgrade requested, or a socket error before the upgrade.', "Invalid request: /ssh/session requires connection upgrade to 'raw'"),
      '500': text('The SSH connection failed before the upgrade.', 'Internal error'),
    },
  },
  'GET /ssh/jobs': {
    summary: 'Pull jobs waiting for this host',
    parameters: [],
    responses: { '200': json('Job UUIDs of the certificate\'s CN, oldest first.', arrayOf({ type: 'string' })) },
  },
  'GET /ssh/jobs/:uuid': {
    summary: 'The script of a pull job',
    description: 'Marks the job delivered (repeatable).',
    parameters: [uuid],
    responses: {
      '200': {
        ...text('The script.', '#!/bin/sh\necho hello\n'),
        headers: { 'X-Foreman-Effective-User': { description: 'The user the script must run as, when set.', schema: { type: 'string' } } },
      },
      '404': notYours,
    },
  },
  'POST /ssh/jobs/:uuid/update': {
    summary: 'Output and exit status of a pull job',
    description: 'The body is read as JSON whatever its content type; the exit update finishes the task.',
    parameters: [uuid],
    requestBody: jsonBody({ type: 'object', additionalProperties: true }, 'Batched output updates, or the exit status.'),
    responses: {
      '200': empty('Accepted (empty body).'),
      '400': jsonError('Neither accepted update shape; the job keeps running.', 'update: expected output or exit_status'),
      '404': notYours,
      '409': jsonError('The task already ended.', 'job 4d2e finished'),
    },
  },
  'GET /ssh/jobs/:uuid/cancel': {
    summary: 'The cancel message content of a pull job',
    parameters: [uuid],
    responses: { '200': empty('Empty body.'), '404': notYours },
  },
};

export default docs;
