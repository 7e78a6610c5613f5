// The module contract (design.md §4). A module and its providers are plain values; the core
// loads their settings, creates the providers, starts the module and mounts its routes in an
// encapsulated fastify context behind the right auth hooks.

import type { FastifyInstance } from 'fastify';
import type { Logger } from './logging-types.ts';
import type { LogBuffer } from './log-buffer.ts';
import type { GlobalSettings } from './settings/global.ts';

/** `foreman`: control plane, called by Foreman. `client`: called by hosts being provisioned. */
export type Audience = 'foreman' | 'client';

export type Settings = Record<string, unknown>;

/**
 * Declaration of one setting of a module or provider file.
 *
 * - `type` is checked when the file is loaded; a mismatch stops start-up naming file and key.
 *   `string` accepts numbers (YAML `7911` for a port written as a string elsewhere), `integer`
 *   accepts numeric strings, `list` turns a scalar into a one-element list, `boolean` needs a
 *   YAML 1.1 boolean (`true/false/yes/no/on/off`).
 * - `checks` are the reference's validators. They run only when the module is enabled; a failure
 *   marks the module's group `failed` with the reference's message (spec README §3.5), and the
 *   other modules run on.
 * - Every setting with a `default` is implicitly presence-checked, as in the reference.
 */
export interface SettingDecl {
  default?: unknown;
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'map' | 'any';
  checks?: readonly SettingCheck[];
}

export type SettingCheck = 'presence' | 'readable' | 'url' | 'optional_url' | 'boolean';

export type SettingsSpec = Record<string, SettingDecl>;

export interface RuntimeContext {
  /** Validated, merged settings (defaults ← file ← computed). Providers also see their module's. */
  readonly settings: Settings;
  readonly global: GlobalSettings;
  readonly log: Logger;
  /** Aborted when the proxy shuts down: stop timers, watchers and connections. */
  readonly signal: AbortSignal;
}

export interface ProviderDefinition<P = unknown> {
  /** The `:use_provider:` name and the settings file name (`<id>.yml`). */
  readonly id: string;
  /** Name of the module this provider serves. */
  readonly module: string;
  readonly settings: SettingsSpec;
  readonly capabilities?: readonly string[];
  /**
   * Build the provider. Throwing (or rejecting) fails the module's whole group with the error's
   * message. Long-lived resources must be released when `ctx.signal` aborts.
   */
  create(ctx: RuntimeContext): P | Promise<P>;
}

export interface ModuleContext<P = unknown> extends RuntimeContext {
  readonly name: string;
  /** Providers in `use_provider` order (empty for modules without providers). */
  readonly providers: readonly P[];
  /** Merged settings of each provider, same order as `providers`. */
  readonly providerSettings: readonly Settings[];
  /** Read-only view of the proxy itself (used by the logs module). */
  readonly proxy?: ProxyIntrospection;
}

export interface ProxyIntrospection {
  readonly logBuffer: LogBuffer;
  /** module/provider name → failure message (spec README §3.4). */
  failedModules(): Readonly<Record<string, string>>;
}

export interface ModuleDefinition<P = unknown> {
  readonly name: string;
  /** URL prefixes the module owns, e.g. ['/dns'] or ['/httpboot', '/EFI']. */
  readonly prefixes: readonly string[];
  readonly audience: Audience;
  /** true: trusted_hosts and client-certificate checks guard every route under the prefixes. */
  readonly authorize: boolean;
  /** Settings of `<name>.yml` other than `enabled` (include `use_provider` if it has providers). */
  readonly settings: SettingsSpec;
  /** Default of `:enabled:` (only `logs` defaults to true). */
  readonly enabledByDefault?: boolean;
  /**
   * For modules with providers: the provider ids to use given the module's settings (e.g. the
   * `use_provider` value as a list; puppetca appends `puppetca_http_api`).
   */
  readonly providerIds?: (settings: Settings) => string[];
  /** Other modules that must be running (e.g. registration requires templates). */
  readonly requires?: readonly string[];
  /** Programmatic settings computed from the loaded ones (spec README §3.6). */
  readonly computeSettings?: (settings: Settings, global: GlobalSettings, enabled: EnabledValue) => Settings;
  /**
   * Keys shown in `/v2/features` → settings, in order. Looked up in the module's settings, then in
   * each provider's merged settings. All null when the module is not running.
   */
  readonly exposedSettings?: readonly string[];
  /** Static capabilities, reported in every state. */
  readonly capabilities?: readonly string[];
  /** Capabilities computed at request time, reported only while running (e.g. installed tools). */
  readonly dynamicCapabilities?: (ctx: ModuleContext<P>) => string[] | Promise<string[]>;
  /**
   * A check whose failure is recorded in /logs failed_modules while the module stays running
   * (the reference's legacy init hook, used by templates). Return the message or undefined.
   */
  readonly softCheck?: (ctx: ModuleContext<P>) => string | undefined;
  /** Start background services. Throwing fails the group. */
  readonly start?: (ctx: ModuleContext<P>) => void | Promise<void>;
  /**
   * Register routes on an encapsulated fastify instance whose prefix is already applied for each
   * entry of `prefixes` (the function is called once per prefix and per listener, with `prefix`
   * set): keep state in `start`/the provider, not in `routes`.
   *
   * Request bodies: `application/x-www-form-urlencoded` arrives parsed (Rack-style, see
   * params.ts); every other content type arrives as a raw Buffer in `request.body`. Use
   * `params(request)` from http/request-params.ts for the merged query + form + path params.
   * Throw ProxyError for handled failures; the core writes the spec's plain-text error body.
   */
  readonly routes: (app: FastifyInstance, ctx: ModuleContext<P>, prefix: string) => void | Promise<void>;
}

/** Parsed `:enabled:` value (spec README §3.3). */
export type EnabledValue = false | 'both' | 'http' | 'https';

export type ModuleState = 'running' | 'disabled' | 'failed';

/** Helper so module files get type inference without casts. */
export function defineModule<P>(def: ModuleDefinition<P>): ModuleDefinition<P> {
  return def;
}

export function defineProvider<P>(def: ProviderDefinition<P>): ProviderDefinition<P> {
  return def;
}
