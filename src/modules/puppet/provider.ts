// What the puppet module needs from its (single, forced) provider.

import type { EnvironmentInfo } from '../../lib/puppet/classes.ts';

export interface PuppetProvider {
  readonly id: string;
  environments(): Promise<EnvironmentInfo[]>;
  /** The raw `environment_classes` body for `environment` (cached, see the provider). */
  classes(environment: string): Promise<unknown>;
}

/** Puppet answered 404 for the environment. */
export class EnvironmentNotFoundError extends Error {
  constructor(environment: string) {
    super(`Could not find environment '${environment}'`);
    this.name = 'EnvironmentNotFoundError';
  }
}

/** Puppet is still computing the classes; the request goes on in the background. */
export class PuppetTimeoutError extends Error {
  constructor() {
    super('Puppet is taking too long to respond, please try again later.');
    this.name = 'PuppetTimeoutError';
  }
}
