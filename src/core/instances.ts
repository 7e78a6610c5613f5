// Instances (design.md §5): `--only a,b` or `--bundle NAME` select the modules one process runs.
// `logs` always comes along, so each instance can show its own failures to Foreman.

export const BUNDLES: Readonly<Record<string, readonly string[]>> = {
  provisioning: ['dhcp', 'dns', 'tftp', 'httpboot', 'templates'],
  client: ['templates', 'registration', 'httpboot'],
  puppet: ['puppetca', 'puppet'],
  infrastructure: ['bmc', 'realm', 'facts'],
};

export class InstanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstanceError';
  }
}

/** The set of module names to run, or undefined for all. */
export function resolveInstance(opts: { only?: readonly string[]; bundle?: string; known: readonly string[] }): Set<string> | undefined {
  if (!opts.only && !opts.bundle) return undefined;
  const names = new Set<string>();
  if (opts.bundle !== undefined) {
    const b = BUNDLES[opts.bundle];
    if (!b) throw new InstanceError(`unknown bundle '${opts.bundle}' (known: ${Object.keys(BUNDLES).join(', ')})`);
    b.forEach((n) => names.add(n));
  }
  for (const n of opts.only ?? []) {
    if (!opts.known.includes(n)) throw new InstanceError(`unknown module '${n}' in --only (known: ${[...opts.known].sort().join(', ')})`);
    names.add(n);
  }
  names.add('logs');
  return names;
}
