// Every error of the ansible module, with its status. The plugin answers its listing failures as
// an unhandled 500; here they carry a JSON `{"error": "…"}` body that names the field or path.

import { errorTable } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';

export const AnsibleError = errorTable('ansible', {
  /** A role or playbook name that cannot be one (path separators, `..`, empty parts). */
  invalid_name: 400,
  /** No role of that name in the roles or collections paths. */
  unknown_role: 404,
  /** A roles, collections or playbook path exists but cannot be read. */
  unreadable: 500,
});

export const ANSIBLE_ERRORS: ErrorPolicy = {
  send(reply, _request, error) {
    return reply
      .code(error.status)
      .headers(error.headers)
      .header('content-type', 'application/json')
      .send(Buffer.from(JSON.stringify({ error: error.message })));
  },
};
