// OpenAPI docs of the salt routes (spec plugins.md §8.1); merged by core/openapi/generate.ts.

import { empty, error, json, path, ref } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation, OpenApiResponse } from '../../core/openapi/types.ts';

const host = path('host', 'Minion name (a host name: letters, digits, "-", "_", ".").', { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$' });
const key = path('key', 'Autosign grain value.', { type: 'string', pattern: '^[A-Za-z0-9_+/=:.@][A-Za-z0-9_+/=:.@-]{0,511}$' });
const environment = path('environment', 'Salt file server environment.', { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' });

const invalid = (what: string): OpenApiResponse => error(`The ${what} is not acceptable (checked before any file or command sees it).`, `Invalid minion name 'a\\n*' (parameter host): letters, digits, "-", "_" and ".", not starting with "-" or ".", at most 253 characters`);
const failed = (example: string): OpenApiResponse => error('The file could not be changed, or the command failed (its exit status and output), or it missed `command_timeout`.', example);
const message = (text: string): OpenApiResponse => json('Done.', { type: 'object', properties: { message: { type: 'string' } } }, { message: text });

const op = (summary: string, description: string, parameters: OpenApiOperation['parameters'], responses: Record<string, OpenApiResponse>): OpenApiOperation => ({
  summary,
  description,
  ...(parameters ? { parameters } : {}),
  responses: { ...responses, '503': ref.busy },
});

const docs: ModuleApiDocs = {
  'GET /salt/autosign': op('Autosign entries', 'The lines of `autosign_file` that are neither empty nor comments (`[]` when the file does not exist).', undefined, {
    '200': json('The entries.', { type: 'array', items: { type: 'string' } }, ['host1.example.com']),
    '406': failed('Failed to list autosign entries: EACCES: permission denied'),
  }),
  'POST /salt/autosign/:host': op('Autosign a minion', 'Appends the name to `autosign_file` unless a line equals it (the file is replaced atomically).', [host], {
    '200': message('Added hostname successfully.'),
    '400': invalid('name'),
    '406': failed('Failed to create autosign for host1.example.com: EACCES: permission denied'),
  }),
  'DELETE /salt/autosign/:host': op('Stop autosigning a minion', 'Removes the lines equal to the name (a missing file or entry is no error).', [host], {
    '200': message('Removed hostname successfully.'),
    '400': invalid('name'),
    '406': failed('Failed to remove autosign for host1.example.com: EACCES: permission denied'),
  }),
  'POST /salt/autosign_key/:key': op('Add an autosign grain value', 'Appends the value to `autosign_key_file` unless a line equals it.', [key], {
    '200': message('Added key successfully.'),
    '400': invalid('key'),
    '406': failed('Failed to create autosign key abc: ENOENT: no such file or directory'),
  }),
  'DELETE /salt/autosign_key/:key': op('Remove an autosign grain value', 'Removes the lines equal to the value.', [key], {
    '200': message('Removed key successfully.'),
    '400': invalid('key'),
    '406': failed('Failed to remove autosign key abc: EACCES: permission denied'),
  }),
  'GET /salt/key': op('Minion keys', '`salt-key --finger-all --output=json`, by minion: accepted, rejected or unaccepted, with the fingerprint.', undefined, {
    '200': json(
      'Keys by minion.',
      { type: 'object', additionalProperties: { type: 'object', properties: { state: { enum: ['accepted', 'rejected', 'unaccepted'] }, fingerprint: { type: 'string' } } } },
      { 'host1.example.com': { state: 'accepted', fingerprint: '7b:3c:…' } },
    ),
    '406': failed('Failed to list keys: Execution of salt-key failed, check log files'),
  }),
  'POST /salt/key/:host': op('Accept a minion key', '`salt-key --include-rejected --yes -a <host>`.', [host], {
    '200': empty('Accepted (empty body).'),
    '400': invalid('name'),
    '406': failed("Failed to accept salt key for host1.example.com: salt-key exited with status 1: The key glob 'host1.example.com' does not match any unaccepted keys."),
  }),
  'DELETE /salt/key/:host': op('Delete a minion key', '`salt-key --yes -d <host>`.', [host], {
    '200': empty('Deleted (empty body).'),
    '400': invalid('name'),
    '406': failed('Failed delete salt key for host1.example.com: salt-key exited with status 1: …'),
  }),
  'DELETE /salt/key/reject/:host': op('Reject a minion key', '`salt-key --include-accepted --yes -r <host>`.', [host], {
    '200': empty('Rejected (empty body).'),
    '400': invalid('name'),
    '406': failed('Failed to reject salt key for host1.example.com: salt-key exited with status 1: …'),
  }),
  'POST /salt/highstate/:host': op('Run highstate on a minion', '`salt --async <host> state.highstate` (returns once the job is published).', [host], {
    '200': empty('Started (empty body).'),
    '400': invalid('name'),
    '406': failed('Failed salt run for host1.example.com: unable to find salt'),
    '500': error('salt failed; its output is logged.', 'Failed salt run for host1.example.com: Check Log files'),
  }),
  'GET /salt/environments': op('Salt environments', 'Salt API runner `fileserver.envs`. Needs `use_api`.', undefined, {
    '200': json('Environment names.', { type: 'array', items: { type: 'string' } }, ['base', 'dev']),
    '404': error('The Salt API answered 404.'),
    '406': failed('Failed to list environments: You must enable the Salt API to use this feature.'),
  }),
  'GET /salt/environments/:environment': op(
    'States of an environment',
    'Salt API runner `fileserver.file_list`: the `.sls` files except `top.sls`, as state names (`apache/init.sls` → `apache`, `apache/mod_ssl.sls` → `apache.mod_ssl`). Needs `use_api`.',
    [environment],
    {
      '200': json('State names.', { type: 'array', items: { type: 'string' } }, ['apache', 'apache.mod_ssl']),
      '400': invalid('environment'),
      '404': error('The Salt API answered 404.', 'Received 404 from Salt API: …'),
      '406': failed('Failed to list states for base: Failed to query Salt API (401): …'),
    },
  ),
};

export default docs;
