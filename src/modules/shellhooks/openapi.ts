// OpenAPI docs of the /shellhook routes (spec plugins.md §5); merged by core/openapi/generate.ts.

import { error, header, json, obj, path, ref, arrayOf, str, empty } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const docs: ModuleApiDocs = {
  'GET /shellhook': {
    summary: 'The hooks of the directory',
    description: '`valid`: executable regular files with a valid name; `invalid`: every other entry.',
    responses: {
      '200': json('Entries of the directory.', obj({ valid: arrayOf(str('Hook name.')), invalid: arrayOf(str('Entry name.')) }), { valid: ['print_args'], invalid: ['README'] }),
      '403': ref.forbidden,
      '500': error('The directory cannot be listed.', 'Cannot list the shellhook directory /var/lib/foreman-proxy/shellhooks: ENOENT'),
    },
  },
  'POST /shellhook/:name': {
    summary: 'Start a hook',
    description:
      'Starts the hook with the request body on its standard input and answers at once; its output and exit status go to the proxy log. ' +
      'Arguments come from `X-Shellhook-Arg-1`, `-2`, … (up to 99, up to the first missing one).',
    parameters: [path('name', 'File name of the hook in the directory.'), header('X-Shellhook-Arg-1', 'First argument (then -2, -3 …).')],
    requestBody: { required: false, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
    responses: {
      '200': empty('Started; empty body.'),
      '403': ref.forbidden,
      '500': error('Not a valid hook name, or no such executable file.', 'Not a valid shellhook file: no executable regular file x in /var/lib/foreman-proxy/shellhooks'),
      '503': ref.busy,
    },
  },
};

export default docs;
