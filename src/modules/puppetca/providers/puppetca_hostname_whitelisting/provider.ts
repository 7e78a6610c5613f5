// Autosigning by host name: manages Puppet's autosign.conf (spec puppetca.md §2). Every edit is a
// locked read-modify-write with an atomic replace, so concurrent requests never drop an entry and
// Puppet never reads a half-written file.

import { readFile } from 'node:fs/promises';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { updateFile } from '../../../../lib/fs/file-lock.ts';
import { addEntry, listEntries, removeEntry } from '../../../../lib/puppet/autosign-conf.ts';
import { PUPPETCA_SETTINGS } from '../../module.ts';
import { NotPresentError, type AutosignProvider } from '../../provider.ts';

export function hostnameWhitelisting(autosignFile: string): AutosignProvider {
  return {
    kind: 'autosign',
    id: 'puppetca_hostname_whitelisting',
    async list() {
      let text: string;
      try {
        text = await readFile(autosignFile, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      return listEntries(text);
    },
    async add(certname) {
      await updateFile(autosignFile, (current) => [addEntry(current ?? '', certname), undefined], { mode: 0o644 });
      return undefined;
    },
    async remove(certname) {
      const outcome = await updateFile(autosignFile, (current): [string | undefined, 'missing-file' | 'absent' | 'removed'] => {
        if (current === undefined) return [undefined, 'missing-file'];
        const next = removeEntry(current, certname);
        return next === undefined ? [undefined, 'absent'] : [next, 'removed'];
      });
      if (outcome === 'missing-file') throw new Error(`No such file ${autosignFile}`);
      if (outcome === 'absent') throw new NotPresentError(`Attempt to remove nonexistent client autosign for ${certname}`);
    },
  };
}

export default defineProvider({
  id: 'puppetca_hostname_whitelisting',
  module: 'puppetca',
  summary:
    "Autosigning by host name: the proxy maintains Puppet's autosign.conf. Edits are locked and written atomically " +
    '(a `<file>.lock` file is created next to it while an edit runs), so the proxy needs write access to the directory.',
  moduleSettings: PUPPETCA_SETTINGS,
  settings: setting.settings({
    autosignfile: setting.file({
      default: '/etc/puppet/autosign.conf',
      description:
        "Puppet's autosign.conf, created when missing. /etc/puppet/autosign.conf is Debian's Puppet; Puppet Server " +
        'from puppetlabs packages reads /etc/puppetlabs/puppet/autosign.conf.',
    }),
  }),
  create(ctx): AutosignProvider {
    return hostnameWhitelisting(ctx.settings.autosignfile);
  },
});
