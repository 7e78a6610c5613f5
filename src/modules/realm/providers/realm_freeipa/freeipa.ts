// Realm operations on FreeIPA (spec realm.md §1): host_show, then host_add with a random one-time
// password, host_disable + host_mod for a rebuild, host_mod for updates; host_del on delete.

import { RealmError } from '../../errors.ts';
import type { RealmHostRequest, RealmProvider } from '../../provider.ts';
import { IpaFault, type IpaClient } from './ipa-client.ts';

export interface FreeIpaRealmOptions {
  readonly client: IpaClient;
  /** The IPA realm from ipa_config, or the error parsing it gave (every call then fails). */
  readonly realm: string | Error;
  readonly removeDns: boolean;
  /** Time one realm request may take, all its IPA calls (and a login) together. */
  readonly timeoutMs: number;
}

function isNotFound(err: unknown): boolean {
  return err instanceof IpaFault && /not found/i.test(err.message);
}

export class FreeIpaRealm implements RealmProvider {
  private readonly o: FreeIpaRealmOptions;

  constructor(o: FreeIpaRealmOptions) {
    this.o = o;
  }

  private checkRealm(realm: string): void {
    if (this.o.realm instanceof Error) throw this.o.realm;
    if (realm.toLowerCase() !== this.o.realm.toLowerCase()) throw RealmError.unknown_realm(`Unknown realm ${realm}`);
  }

  /** A caller for one request: every IPA call gets what is left of the request's deadline. */
  private caller(): (method: string, args: unknown[], options?: Record<string, unknown>) => Promise<Record<string, unknown>> {
    const end = Date.now() + this.o.timeoutMs;
    return (method, args, options = {}) => {
      const left = end - Date.now();
      if (left < 50) return Promise.reject(new Error(`FreeIPA ${method}: no answer within ${Math.round(this.o.timeoutMs / 1000)} s`));
      return this.o.client.call(method, args, options, left);
    };
  }

  /** The host entry, or undefined when IPA says it does not exist. */
  private async find(call: ReturnType<FreeIpaRealm['caller']>, hostname: string): Promise<Record<string, unknown> | undefined> {
    try {
      const reply = await call('host_show', [hostname]);
      return (reply.result ?? {}) as Record<string, unknown>;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create(realm: string, req: RealmHostRequest): Promise<unknown> {
    const call = this.caller();
    try {
      this.checkRealm(realm);
      const setattr = req.userclass === undefined ? [] : [`userclass=${req.userclass}`];
      const host = await this.find(call, req.hostname);
      let reply: Record<string, unknown>;
      if (host === undefined) {
        reply = await call('host_add', [req.hostname], { random: true, force: true, setattr });
      } else if (req.rebuild) {
        // A rebuilt host must enrol again: invalidate its keytab before issuing a new password.
        if (host.has_keytab === true) await call('host_disable', [req.hostname]);
        reply = await call('host_mod', [req.hostname], { random: true, setattr });
      } else {
        reply = await call('host_mod', [req.hostname], { setattr });
      }
      return reply.result ?? null;
    } catch (err) {
      if (err instanceof IpaFault && /no modifications/i.test(err.message)) return { message: 'nothing to do' };
      throw err;
    }
  }

  async remove(realm: string, hostname: string): Promise<unknown> {
    const call = this.caller();
    const host = await this.find(call, hostname);
    if (host === undefined) throw RealmError.not_found(`Host ${hostname} not found in realm`);
    this.checkRealm(realm);
    let reply: Record<string, unknown>;
    try {
      reply = await call('host_del', [hostname], { updatedns: this.o.removeDns });
    } catch (err) {
      if (!this.o.removeDns) throw err;
      // A host without DNS records cannot have them removed: delete it without.
      reply = await call('host_del', [hostname], { updatedns: false });
    }
    const { messages: _ignored, ...rest } = reply;
    return rest;
  }

  close(): Promise<void> {
    return this.o.client.close();
  }
}
