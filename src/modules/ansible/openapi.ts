// OpenAPI docs of the /ansible routes (spec plugins.md §3.2); merged by core/openapi/generate.ts.

import { arrayOf, json, obj, path, ref, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const errorBody = obj({ error: str('What is wrong, naming the field or path.') });
const jsonError = (description: string, example: string) => json(description, errorBody, { error: example });
const variables = obj({}, 'Role name → merged default variables of the role.', { additionalProperties: { type: 'object' } });
const playbook = obj({ name: str('namespace.collection.playbook'), playbooks_content: str('The playbook file as text.') });

const docs: ModuleApiDocs = {
  'GET /ansible/roles': {
    summary: 'Installed roles',
    description:
      'Role directories of every roles path, then `<namespace>.<collection>.<role>` of every collection. Paths come from roles_path and collections_path(s) of ansible_config_file (Ansible defaults when it is missing).',
    responses: {
      '200': json('Role names.', arrayOf(str('Role name.')), ['geerlingguy.apache', 'ntp', 'community.general.foo']),
      '403': ref.forbidden,
      '500': jsonError('A roles or collections path cannot be read.', 'Could not read /etc/ansible/roles: EACCES: permission denied'),
    },
  },
  'GET /ansible/roles/variables': {
    summary: 'Default variables of every role',
    description: 'Each role maps to the merge of its `defaults/**/*.yml` and `*.yaml` files; roles whose files are not YAML mappings are left out (and logged).',
    responses: {
      '200': json('Role → variables.', variables, { ntp: { ntp_servers: ['0.pool.ntp.org'] }, web: {} }),
      '403': ref.forbidden,
      '500': jsonError('A roles or collections path cannot be read.', 'Could not read /etc/ansible/roles: EACCES: permission denied'),
    },
  },
  'GET /ansible/roles/:role_name/variables': {
    summary: 'Default variables of one role',
    description: 'A three-part name is looked up in the collections paths first. A role whose defaults cannot be parsed answers `{}` (as the plugin).',
    parameters: [path('role_name', 'A role directory name, or namespace.collection.role.')],
    responses: {
      '200': json('`{"<role_name>": {…}}`, or `{}` when the defaults cannot be parsed.', variables, { ntp: { ntp_servers: ['0.pool.ntp.org'] } }),
      '400': jsonError('Not a role name.', "role_name: '..' is not a role name (a directory name, or namespace.collection.role)"),
      '403': ref.forbidden,
      '404': jsonError('No such role.', "role_name: no role 'nope' in the roles paths (/etc/ansible/roles:/usr/share/ansible/roles)"),
    },
  },
  'GET /ansible/playbooks_names': {
    summary: 'Names of the collection playbooks',
    responses: {
      '200': json('`<namespace>.<collection>.<playbook>` of every `.yml`/`.yaml` file under a collection\'s playbooks directory.', arrayOf(str('Playbook name.')), ['ns.coll.site']),
      '403': ref.forbidden,
      '500': jsonError('A collections path cannot be read.', 'Could not read /usr/share/ansible/collections/ansible_collections: EACCES: permission denied'),
    },
  },
  'GET /ansible/playbooks': {
    summary: 'Every collection playbook with its content',
    responses: {
      '200': json('Playbooks.', arrayOf(playbook), [{ name: 'ns.coll.site', playbooks_content: '---\n- hosts: all\n' }]),
      '403': ref.forbidden,
      '500': jsonError('A playbook cannot be read.', 'Could not read Ansible playbook /usr/share/ansible/collections/ansible_collections/ns/coll/playbooks/site.yml: EACCES'),
    },
  },
  'GET /ansible/playbooks/:playbooks_names': {
    summary: 'The named collection playbooks with their content',
    description: 'Names are matched exactly (the plugin matched any name that is a substring of the parameter); unknown names are left out.',
    parameters: [path('playbooks_names', 'Comma-separated namespace.collection.playbook names.')],
    responses: {
      '200': json('Playbooks.', arrayOf(playbook), [{ name: 'ns.coll.site', playbooks_content: '---\n- hosts: all\n' }]),
      '400': jsonError('A name that is not namespace.collection.playbook.', "playbooks_names: 'x/y' is not a playbook name (namespace.collection.playbook)"),
      '403': ref.forbidden,
      '500': jsonError('A playbook cannot be read.', 'Could not read Ansible playbook …: EACCES'),
    },
  },
};

export default docs;
