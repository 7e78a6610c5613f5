// The module contract (design.md §4; docs/writing-a-module.md is the guide). A module and its
// providers are plain definitions. The core reads and checks their settings against the declared
// schema, creates the providers, then creates ONE module instance that owns the module's running
// state; every listener mounts that same instance. On shutdown, or when a later member of the
// group fails, the core awaits `close()` of everything it created, in reverse order.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from './logging-types.ts';
import type { LogBuffer } from './log-buffer.ts';
import type { GlobalSettings, ListenerSpec } from './settings/global.ts';
import type { ProxyError } from './errors.ts';
import type { Static, TObject } from './settings/schema.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { ModuleRecord } from './lifecycle.ts';
import type { ModuleApiDocs } from './openapi/types.ts';

/** `foreman`: control plane, called by Foreman. `client`: called by hosts being provisioned. */
export type Audience = 'foreman' | 'client';

/** Settings as loaded (defaults ← file ← computed), before typing. */
export type Settings = Record<string, unknown>;

/** What every module and provider receives besides its settings. */
export interface RuntimeContext<S> {
  /** Checked settings, typed by the schema. A provider sees its module's settings too. */
  readonly settings: S;
  readonly global: GlobalSettings;
  /** Lines are prefixed with the module or provider name. */
  readonly log: Logger;
  /**
   * Aborted when the proxy shuts down: in-flight backend work (downloads, retries) stops. Release
   * resources in `close()`, which the core awaits; do not rely on this signal for that.
   */
  readonly signal: AbortSignal;
}

/** Read-only view of the proxy itself (the logs module serves it). */
export interface ProxyIntrospection {
  readonly logBuffer: LogBuffer;
  /** module/provider name → failure message (spec README §3.4). */
  failedModules(): Readonly<Record<string, string>>;
  /** This proxy's metrics registry: modules add their own metrics; the metrics module serves it. */
  readonly metrics: ProxyMetrics;
  /** Every module's record (state, settings, instance): the status page and the OpenAPI document. */
  modules(): ReadonlyMap<string, ModuleRecord>;
  /** The listeners as bound, with the modules each mounts; empty until the proxy listens. */
  listeners(): readonly ListenerInfo[];
}

/** A running listener as the status page shows it. */
export interface ListenerInfo {
  readonly spec: ListenerSpec;
  /** `host:port` of each bound socket. */
  readonly addresses: readonly string[];
  readonly modules: readonly string[];
}

export interface ModuleContext<S> extends RuntimeContext<S> {
  readonly name: string;
  readonly proxy: ProxyIntrospection;
  /**
   * The `exports` of a module this one `requires` (script gets dynflow's task engine), once that
   * module's instance exists. Rejects when the dependency is disabled or failed. Only names listed
   * in `requires` may be asked for, so the core can create dependencies first.
   */
  dependency<T>(name: string): Promise<T>;
}

/** Anything the core created and must release. */
export interface Closeable {
  close?(): void | Promise<void>;
}

/** The providers a module's settings selected, by `:use_provider:` name. */
export class Providers<P> {
  private readonly byId: ReadonlyMap<string, P>;

  constructor(byId: ReadonlyMap<string, P>) {
    this.byId = byId;
  }

  /** The provider named `id`; the core created every selected one before the module. */
  get(id: string): P {
    const p = this.byId.get(id);
    if (p === undefined) throw new Error(`provider '${id}' was not created (known: ${[...this.byId.keys()].join(', ') || 'none'})`);
    return p;
  }

  get ids(): string[] {
    return [...this.byId.keys()];
  }
}

/** The running module: one per proxy, shared by every listener that mounts it. */
export interface ModuleInstance extends Closeable {
  /**
   * Register the routes of one prefix on an encapsulated fastify scope (the prefix is already
   * applied). Called once per prefix and per listener: keep state in the instance, not here.
   *
   * Request bodies: `application/x-www-form-urlencoded` arrives parsed (Rack-style, params.ts);
   * any other content type arrives as a raw Buffer. `params(request)` (http/request-params.ts)
   * merges query, form and path params. Throw the module's table errors (errors.ts); the module's
   * error policy turns everything else into a status.
   */
  routes(app: FastifyInstance, prefix: string): void | Promise<void>;
  /** Capabilities found at run time (installed tools), added to the static ones while running. */
  capabilities?(): readonly string[] | Promise<readonly string[]>;
  /**
   * The reference's legacy init-hook failure: recorded in /logs failed_modules while the module
   * keeps running (templates without foreman_url).
   */
  readonly softFailure?: string;
  /** Start serving outside HTTP (the built-in TFTP server). Not run by `smart-proxy check`. */
  start?(): Promise<void>;
  /**
   * What modules that `requires` this one receive from `ctx.dependency(name)` (dynflow's task
   * engine, on which script and later plugins register their operations).
   */
  readonly exports?: unknown;
}

/**
 * How errors thrown inside the module's routes become responses (one scoped handler per module,
 * core/http/module-errors.ts). Errors from the module's table (errorTable) carry their status;
 * framework rejections (body too large …) keep theirs.
 */
export interface ErrorPolicy {
  /** The module's own typed errors that are not table errors (e.g. a backend's error class). */
  translate?(err: Error): ProxyError | undefined;
  /**
   * Status of any other error (a backend's plain Error), with the route's `errorPrefix` before
   * its message: the reference answers 400 (dhcp, dns, tftp, bmc) or 406 (puppetca, puppet).
   * Without it such an error is an unhandled 500, logged with its stack.
   */
  untypedStatus?: number;
  /** Write the error response when the module's error body differs from the core's plain text. */
  send?(reply: FastifyReply, request: FastifyRequest, error: ProxyError): FastifyReply;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Put before the message of an untyped error of this route (`Failed to sign … for x: `). */
    errorPrefix?: string | ((request: FastifyRequest) => string);
  }
}

/** A broken rule between settings: the key to blame and the failure message (shown as is). */
export interface SettingRule {
  readonly key: string;
  readonly message: string;
}

/** Parsed `:enabled:` value (spec README §3.3). */
export type EnabledValue = false | 'both' | 'http' | 'https';

export type ModuleState = 'running' | 'disabled' | 'failed';

export interface ModuleDefinition<S extends TObject = TObject, P = unknown> {
  readonly name: string;
  /**
   * Base name of the module's settings file in settings.d when it is not the module name: the
   * reference keeps feature `script` in `remote_execution_ssh.yml`.
   */
  readonly settingsFile?: string;
  /**
   * false: not a Foreman feature, so absent from /features, /version and /v2/features (the
   * capsule's host-facing front end, which the reference leaves to Apache). Default true.
   */
  readonly published?: boolean;
  /** One line for the generated settings file header and docs. */
  readonly summary: string;
  /** URL prefixes the module owns, e.g. ['/dns'] or ['/httpboot', '/EFI']. */
  readonly prefixes: readonly string[];
  readonly audience: Audience;
  /** true: trusted_hosts and client-certificate checks guard every route under the prefixes. */
  readonly authorize: boolean;
  /**
   * Exceptions to `authorize` by path (full path with the prefix; the path and everything below
   * it): `none` for public routes (`/ssh/pubkey`), `client-certificate` for routes whose callers
   * are hosts identified by their own certificate, not trusted_hosts (`/ssh/jobs`); the handler
   * reads the CN from `request.clientCertificateCn`.
   */
  readonly pathAuthorization?: Readonly<Record<string, 'none' | 'client-certificate'>>;
  /** Settings of `<name>.yml` other than `enabled` (include `use_provider` if it has providers). */
  readonly settings: S;
  /** Default of `:enabled:` (only `logs` defaults to true). */
  readonly enabledByDefault?: boolean;
  /**
   * For modules with providers: the provider ids to create given the module's settings (e.g. the
   * `use_provider` value as a list; puppetca appends `puppetca_http_api`).
   */
  providerIds?(settings: Static<S>): string[];
  /** Other modules that must be running (registration requires templates). */
  readonly requires?: readonly string[];
  /** Programmatic settings computed from the loaded ones (spec README §3.6). */
  computeSettings?(settings: Settings, global: GlobalSettings, enabled: EnabledValue): Settings;
  /** Cross-key rules the schema cannot say; the first problem fails the group. */
  validate?(settings: Static<S>): SettingRule | undefined;
  /**
   * Keys shown in `/v2/features` → settings, in order. Looked up in the module's settings, then in
   * each provider's merged settings. All null when the module is not running.
   */
  readonly exposedSettings?: readonly string[];
  /** Static capabilities, reported in every state. */
  readonly capabilities?: readonly string[];
  readonly errors?: ErrorPolicy;
  /**
   * The OpenAPI description of the module's routes (core/openapi/types.ts), loaded only when the
   * document is asked for: `apiDocs: async () => (await import('./openapi.ts')).default`.
   */
  readonly apiDocs?: () => Promise<ModuleApiDocs>;
  /**
   * Build the running module from its checked settings and its providers. Throwing fails the
   * group (the providers already created are closed). Must not bind sockets: that is `start`.
   * Loading the module's code here, with `import()`, keeps a disabled module free.
   */
  create(ctx: ModuleContext<Static<S>>, providers: Providers<P>): ModuleInstance | Promise<ModuleInstance>;
}

export interface ProviderDefinition<S extends TObject = TObject, M extends TObject = TObject, P = unknown> {
  /** The `:use_provider:` name and the settings file name (`<id>.yml`). */
  readonly id: string;
  /** Name of the module this provider serves. */
  readonly module: string;
  /** One line for the generated settings file header. */
  readonly summary: string;
  readonly settings: S;
  /** The module's schema, for typing only: a provider also sees its module's settings. */
  readonly moduleSettings?: M;
  readonly capabilities?: readonly string[];
  validate?(settings: Static<S> & Static<M>): SettingRule | undefined;
  /**
   * Build the provider. Throwing (or rejecting) fails the module's whole group with the error's
   * message. Resources it holds are released by its `close()`, which the core awaits.
   */
  create(ctx: RuntimeContext<Static<S> & Static<M>>): (P & Closeable) | Promise<P & Closeable>;
}

/** `<file>.yml` of a module in settings.d. */
export function settingsFileName(def: Pick<ModuleDefinition, 'name' | 'settingsFile'>): string {
  return `${def.settingsFile ?? def.name}.yml`;
}

/** Type inference for module files. */
export function defineModule<S extends TObject, P = unknown>(def: ModuleDefinition<S, P>): ModuleDefinition<S, P> {
  return def;
}

export function defineProvider<S extends TObject, P, M extends TObject = TObject>(def: ProviderDefinition<S, M, P>): ProviderDefinition<S, M, P> {
  return def;
}
