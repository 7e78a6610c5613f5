// Settings of a module or provider are declared once, as a typebox object schema built with the
// helpers below. Everything else comes from that one declaration:
//
// - reading: each value is coerced the way Psych-written files need (an integer may be written as
//   a string, a scalar stands for a one-element list); a value of the wrong type stops start-up
//   naming file and key (`readDeclared`);
// - checking: the reference's validators (spec README §3.5) with the reference's messages, then
//   ranges, enums, patterns and conditional requirements (`checkDeclared`); a failure fails the
//   module's group, and `smart-proxy check` reports it with file, key and reason;
// - typing: `Static<typeof schema>` is the settings object the module or provider receives;
// - documentation: the settings tables of the module READMEs and config/settings.d/*.yml are
//   generated from the descriptions, defaults and examples (scripts/settings-docs.ts).
//
// typebox rather than a home-made declaration type: its schemas are plain JSON Schema that fastify,
// the OpenAPI tools and typebox's own validator read, and its `Static` type gives modules typed
// settings without a second, hand-written interface. Its run-time library is not loaded here,
// though: it is 247 files, and importing it cost every start-up from source about 85 ms (measured
// with bench/startup-memory.ts), because module definitions are read at start even when disabled.
// So the builders below write typebox's schema objects themselves (JSON Schema plus typebox's
// global `Kind`/`Optional` symbols; the settings need only a handful of kinds), and the few checks
// settings need (type, range, pattern, enum) are made here. schema.test.ts holds both against
// typebox's own TypeGuard and Value.Check, so the schemas stay typebox schemas.

import { access, constants } from 'node:fs/promises';
import type {
  Static,
  TArray,
  TBoolean,
  TInteger,
  TLiteral,
  TNumber,
  TObject,
  TOptional,
  TProperties,
  TRecord,
  TSchema,
  TString,
  TUnion,
  TUnknown,
} from '@sinclair/typebox';
import { SettingsError } from '../errors.ts';
import { asInteger, asList, asNumber, asString, describe } from './coerce.ts';

export type { Static, TObject };

/** typebox's markers: global symbols, so typebox's own functions recognise these schemas. */
const Kind = Symbol.for('TypeBox.Kind');
const OptionalKind = Symbol.for('TypeBox.Optional');

/** A typebox schema of `kind` with JSON Schema `fields`. */
function schemaOf<T extends TSchema>(kind: string, fields: Record<string, unknown>): T {
  return { ...fields, [Kind]: kind } as unknown as T;
}

/** The reference's validators that have no JSON Schema keyword. */
export type ReferenceCheck = 'presence' | 'readable' | 'url' | 'optional_url';

/** Documentation and reference-validator keywords every setting may carry. */
export interface SettingDocs {
  /** One or more sentences for the README table and the comment in config/settings.d. */
  description: string;
  /** Shown (commented out) in config/settings.d when the setting has no default. */
  example?: unknown;
  /** Our addition, not a setting of the reference: the docs mark it. */
  extension?: boolean;
  /** Unit of a number, used in messages and docs (`seconds`, `bytes` …). */
  unit?: string;
  /** Other keys that must be set whenever this one is (e.g. `user` needs `password_file`). */
  requires?: readonly string[];
  /** Checks of the reference that apply to this key. */
  checks?: readonly ReferenceCheck[];
  /** Hide from the generated config file (still in the README table). */
  hidden?: boolean;
  /** Must be set although it has no default (the reference's presence validator). */
  required?: boolean;
}

interface NumberRange {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

type WithDefault<T> = SettingDocs & { default: T; required?: false };
type Required = SettingDocs & { required: true; default?: undefined };
type WithoutDefault = SettingDocs & { default?: undefined; required?: false };

// Every setting carries its docs under these keys of the JSON Schema.
const X = {
  checks: 'x-checks',
  requires: 'x-requires',
  extension: 'x-extension',
  unit: 'x-unit',
  example: 'x-example',
  hidden: 'x-hidden',
} as const;

function keywords(docs: SettingDocs & { default?: unknown }): Record<string, unknown> {
  const out: Record<string, unknown> = { description: docs.description };
  if (docs.default !== undefined) out.default = docs.default;
  const checks = [...(docs.checks ?? []), ...(docs.required ? (['presence'] as const) : [])];
  if (checks.length) out[X.checks] = checks;
  if (docs.requires?.length) out[X.requires] = docs.requires;
  if (docs.extension) out[X.extension] = true;
  if (docs.unit) out[X.unit] = docs.unit;
  if (docs.example !== undefined) out[X.example] = docs.example;
  if (docs.hidden) out[X.hidden] = true;
  return out;
}

function optionalUnless<T extends TSchema>(schema: T, hasDefault: boolean): T | TOptional<T> {
  return hasDefault ? schema : ({ ...schema, [OptionalKind]: 'Optional' } as TOptional<T>);
}

// Builders. A setting with a default is a required property of the typed settings (and, as in the
// reference, must not be empty); one without is optional.
export function string(o: (WithDefault<string> | Required) & { pattern?: string }): TString;
export function string(o: WithoutDefault & { pattern?: string }): TOptional<TString>;
export function string(o: SettingDocs & { default?: string; pattern?: string }): TString | TOptional<TString> {
  const pattern = o.pattern ? { pattern: o.pattern } : {};
  return optionalUnless(schemaOf<TString>('String', { ...keywords(o), ...pattern, type: 'string' }), o.default !== undefined || o.required === true);
}

/** A path; `checks: ['readable']` makes the reference's file_readable validator apply. */
export const file = string;

/** A URL: `checks: ['url']` (required) or `['optional_url']`. */
export function url(o: WithDefault<string> | Required): TString;
export function url(o: WithoutDefault & { optional?: boolean }): TOptional<TString>;
export function url(o: SettingDocs & { default?: string; optional?: boolean }): TString | TOptional<TString> {
  const checks: ReferenceCheck[] = [o.optional ? 'optional_url' : 'url', ...(o.checks ?? [])];
  // The url check refuses an empty value with the reference's own message, so `required` only
  // types the setting as always present; it adds no presence check of its own.
  const schema = schemaOf<TString>('String', { ...keywords({ ...o, required: false, checks }), type: 'string' });
  return optionalUnless(schema, o.default !== undefined || o.required === true);
}

export function integer(o: (WithDefault<number> | Required) & NumberRange): TInteger;
export function integer(o: WithoutDefault & NumberRange): TOptional<TInteger>;
export function integer(o: SettingDocs & { default?: number } & NumberRange): TInteger | TOptional<TInteger> {
  return optionalUnless(schemaOf<TInteger>('Integer', { ...keywords(o), ...range(o), type: 'integer' }), o.default !== undefined || o.required === true);
}

export function number(o: (WithDefault<number> | Required) & NumberRange): TNumber;
export function number(o: WithoutDefault & NumberRange): TOptional<TNumber>;
export function number(o: SettingDocs & { default?: number } & NumberRange): TNumber | TOptional<TNumber> {
  return optionalUnless(schemaOf<TNumber>('Number', { ...keywords(o), ...range(o), type: 'number' }), o.default !== undefined || o.required === true);
}

/** A port number (1–65535). */
export function port(o: WithDefault<number>): TInteger {
  return schemaOf<TInteger>('Integer', { ...keywords(o), minimum: 1, maximum: 65535, type: 'integer' });
}

/** A YAML boolean; anything else fails the group with the reference's boolean message. */
export function boolean(o: WithDefault<boolean>): TBoolean;
export function boolean(o: WithoutDefault): TOptional<TBoolean>;
export function boolean(o: SettingDocs & { default?: boolean }): TBoolean | TOptional<TBoolean> {
  return optionalUnless(schemaOf<TBoolean>('Boolean', { ...keywords(o), type: 'boolean' }), o.default !== undefined);
}

/** One of a fixed set of strings (the reference's enum validator message). */
export function oneOf<const V extends readonly string[]>(values: V, o: WithDefault<V[number]>): TUnion<TLiteral<V[number]>[]>;
export function oneOf<const V extends readonly string[]>(values: V, o: WithoutDefault): TOptional<TUnion<TLiteral<V[number]>[]>>;
export function oneOf<const V extends readonly string[]>(values: V, o: SettingDocs & { default?: V[number] }): TSchema {
  const literals = values.map((v) => schemaOf<TLiteral<V[number]>>('Literal', { const: v, type: 'string' }));
  return optionalUnless(schemaOf<TUnion<TLiteral<V[number]>[]>>('Union', { ...keywords(o), anyOf: literals }), o.default !== undefined);
}

/** A list of strings; a scalar in the file counts as a one-element list. */
export function list(o: WithDefault<string[]>): TArray<TString>;
export function list(o: WithoutDefault): TOptional<TArray<TString>>;
export function list(o: SettingDocs & { default?: string[] }): TArray<TString> | TOptional<TArray<TString>> {
  const items = schemaOf<TString>('String', { type: 'string' });
  return optionalUnless(schemaOf<TArray<TString>>('Array', { ...keywords(o), type: 'array', items }), o.default !== undefined);
}

/** A mapping of names to anything. */
export function map(o: WithoutDefault): TOptional<TRecord<TString, TUnknown>> {
  const values = schemaOf<TUnknown>('Unknown', {});
  const record = schemaOf<TRecord<TString, TUnknown>>('Record', { ...keywords(o), type: 'object', patternProperties: { '^(.*)$': values } });
  return optionalUnless(record, false) as TOptional<TRecord<TString, TUnknown>>;
}

/** Any YAML value, checked by the module itself. */
export function any(o: WithDefault<unknown>): TUnknown;
export function any(o: WithoutDefault): TOptional<TUnknown>;
export function any(o: SettingDocs & { default?: unknown }): TUnknown | TOptional<TUnknown> {
  return optionalUnless(schemaOf<TUnknown>('Unknown', keywords(o)), o.default !== undefined);
}

function range(o: NumberRange): NumberRange {
  const out: NumberRange = {};
  for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** The settings of one file: `settings({ key: setting.integer(…), … })`. */
export function settings<P extends TProperties>(properties: P): TObject<P> {
  const required = Object.keys(properties).filter((k) => !isOptional(properties[k]));
  return schemaOf<TObject<P>>('Object', { type: 'object', properties, ...(required.length ? { required } : {}) });
}

export const EMPTY_SETTINGS = settings({});

// ---------------------------------------------------------------------------------------------
// Reading

export type SettingsValues = Record<string, unknown>;

function kindOf(schema: TSchema): string {
  return String((schema as { [Kind]?: unknown })[Kind]);
}

/** The allowed values of a `oneOf` setting (typebox turns a union of one into that literal). */
function enumValues(schema: TSchema): string[] | undefined {
  if (kindOf(schema) === 'Literal') return [String((schema as TLiteral).const)];
  if (kindOf(schema) === 'Union') return (schema as unknown as TUnion<TLiteral[]>).anyOf.map((l) => String(l.const));
  return undefined;
}

export function isOptional(schema: TSchema): boolean {
  return (schema as { [OptionalKind]?: unknown })[OptionalKind] === 'Optional';
}

/** Coerce one value per its declaration (fatal on a wrong type). Empty values pass untouched. */
function coerce(file: string, key: string, schema: TSchema, value: unknown): unknown {
  // Empty values are left for the presence check, which reports them as the reference does.
  if (value === null || value === undefined || value === '') return value;
  switch (kindOf(schema)) {
    case 'String':
      return asString(file, key, value);
    case 'Integer':
      return asInteger(file, key, value);
    case 'Number':
      return asNumber(file, key, value);
    case 'Boolean':
      // The reference's boolean validator reports this as a module failure, not a fatal error.
      return value;
    case 'Union':
    case 'Literal':
      return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
    case 'Array': {
      const items = (schema as TArray).items;
      return asList(file, key, value).map((v, i) => (kindOf(items) === 'String' ? asString(file, `${key}[${i}]`, v) : v));
    }
    case 'Record':
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new SettingsError(file, key, `expected a mapping, got ${describe(value)}`);
      }
      return value;
    default:
      return value;
  }
}

/**
 * Defaults, then the file's values coerced per the schema. Keys the schema does not declare are
 * kept as they are (the reference passes them on too). Throws SettingsError on a wrong type.
 */
export function readDeclared(file: string, schema: TObject, raw: SettingsValues): SettingsValues {
  const out: SettingsValues = {};
  for (const [key, prop] of Object.entries(schema.properties)) {
    const def = (prop as { default?: unknown }).default;
    if (def !== undefined) out[key] = structuredClone(def);
  }
  for (const [key, value] of Object.entries(raw)) {
    const prop = schema.properties[key];
    out[key] = prop ? coerce(file, key, prop, value) : value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checking

/** A setting mistake that fails the module's group. */
export interface SettingProblem {
  /** The settings file the key belongs to. */
  readonly file: string;
  readonly key: string;
  /**
   * The failure reason as /logs and /v2/features show it: the reference's own message for its
   * validators, `<file name>: <key> <reason>` for ours.
   */
  readonly message: string;
  /** The reason alone, after file and key (what `smart-proxy check` prints). */
  readonly reason: string;
}

const empty = (v: unknown): boolean => v === null || v === undefined || v === '';

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function urlProblem(name: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return `Setting '${name}' is expected to contain a url`;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return `Setting '${name}' is missing a scheme`;
  if (!URL.canParse(value)) return `Setting '${name}' contains an invalid url`;
  return undefined;
}

function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

/** Our wording of a schema keyword a value breaks, e.g. `must be a whole number of seconds between 1 and 55`. */
function requirement(schema: TSchema): string {
  const s = schema as TSchema & NumberRange & { pattern?: string; [X.unit]?: string };
  const kind = kindOf(schema);
  const unit = s[X.unit] ? ` of ${s[X.unit]}` : '';
  const what = kind === 'Integer' ? `a whole number${unit}` : kind === 'Number' ? `a number${unit}` : 'a value';
  const low = s.minimum ?? s.exclusiveMinimum;
  const high = s.maximum ?? s.exclusiveMaximum;
  const lowText = s.exclusiveMinimum !== undefined ? `above ${low}` : `${low}`;
  const highText = s.exclusiveMaximum !== undefined ? `below ${high}` : `${high}`;
  if (low !== undefined && high !== undefined) {
    return s.exclusiveMinimum === undefined && s.exclusiveMaximum === undefined
      ? `must be ${what} between ${low} and ${high}`
      : `must be ${what} ${lowText} and at most ${highText}`;
  }
  if (low !== undefined) return s.exclusiveMinimum !== undefined ? `must be ${what} above ${low}` : `must be ${what} of at least ${low}`;
  if (high !== undefined) return `must be ${what} of at most ${high}`;
  if (s.pattern) return `must match ${s.pattern}`;
  return `must be ${what}`;
}

/** Whether `value` keeps the bounds and pattern of its schema (reading already checked its type). */
function withinBounds(schema: TSchema, value: unknown): boolean {
  const s = schema as TSchema & NumberRange & { pattern?: string };
  if (typeof value === 'number') {
    if (kindOf(schema) === 'Integer' && !Number.isInteger(value)) return false;
    if (s.minimum !== undefined && value < s.minimum) return false;
    if (s.maximum !== undefined && value > s.maximum) return false;
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) return false;
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) return false;
  }
  if (typeof value === 'string' && s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value)) return false;
  return true;
}

/**
 * The first mistake in `values` (the merged settings of the file and, for a provider, its
 * module), in declaration order, or undefined. `name` is the file's plugin name (`dhcp_kea`).
 */
export async function checkDeclared(name: string, file: string, schema: TObject, values: SettingsValues): Promise<SettingProblem | undefined> {
  const ours = (key: string, reason: string): SettingProblem => ({ file, key, message: `${name}: ${key} ${reason}`, reason });
  const theirs = (key: string, message: string): SettingProblem => ({ file, key, message, reason: message });
  for (const [key, prop] of Object.entries(schema.properties) as [string, TSchema & Record<string, unknown>][]) {
    const value = values[key];
    const checks = new Set((prop[X.checks] as ReferenceCheck[] | undefined) ?? []);
    if (prop.default !== undefined) checks.add('presence');
    if (checks.has('presence') && empty(value)) return theirs(key, `Parameter '${key}' is expected to have a non-empty value`);
    if (kindOf(prop) === 'Boolean' && value !== undefined && value !== null && typeof value !== 'boolean') {
      return theirs(key, `Setting '${key}' is expected to be true/false`);
    }
    if (checks.has('url')) {
      const p = urlProblem(key, value);
      if (p) return theirs(key, p);
    }
    if (checks.has('optional_url') && !empty(value)) {
      const p = urlProblem(key, value);
      if (p) return theirs(key, p);
    }
    if (checks.has('readable') && (prop.default !== undefined || !empty(value))) {
      if (!(typeof value === 'string' && (await readable(value)))) {
        return theirs(key, `File at '${String(value ?? '')}' defined in '${key}' parameter doesn't exist or is unreadable`);
      }
    }
    if (empty(value)) continue;
    const allowed = enumValues(prop);
    if (allowed) {
      if (!allowed.includes(value as string)) return theirs(key, `Parameter '${key}' must be one of ${allowed.join(', ')}`);
      continue;
    }
    if (!withinBounds(prop, value)) return ours(key, `${requirement(prop)}, got ${show(value)}`);
    for (const other of (prop[X.requires] as string[] | undefined) ?? []) {
      if (empty(values[other])) return ours(key, `needs ${other} to be set too`);
    }
  }
  return undefined;
}

/** The typed view of checked settings: schema keys left null become absent. */
export function typed<S extends TObject>(schema: S, values: SettingsValues): Static<S> {
  const out: SettingsValues = { ...values };
  for (const key of Object.keys(schema.properties)) if (out[key] === null) delete out[key];
  return out as Static<S>;
}

// ---------------------------------------------------------------------------------------------
// Documentation

export interface SettingDoc {
  key: string;
  type: string;
  default: unknown;
  description: string;
  example: unknown;
  extension: boolean;
  hidden: boolean;
  /** Human-readable constraints: range, allowed values, file checks, requirements. */
  constraints: string[];
}

function typeName(prop: TSchema): string {
  switch (kindOf(prop)) {
    case 'String':
      return 'string';
    case 'Integer':
      return 'integer';
    case 'Number':
      return 'number';
    case 'Boolean':
      return 'boolean';
    case 'Array':
      return 'list';
    case 'Record':
      return 'mapping';
    case 'Union':
    case 'Literal':
      return 'string';
    default:
      return 'any';
  }
}

/** The declared settings of a schema, for the generated docs. */
export function describeSettings(schema: TObject): SettingDoc[] {
  return Object.entries(schema.properties).map(([key, p]) => {
    const prop = p as TSchema & NumberRange & Record<string, unknown>;
    const constraints: string[] = [];
    const checks = (prop[X.checks] as ReferenceCheck[] | undefined) ?? [];
    const allowed = enumValues(prop);
    if (allowed) constraints.push(`one of ${allowed.map((v) => `\`${v}\``).join(', ')}`);
    if (prop.minimum !== undefined || prop.maximum !== undefined || prop.exclusiveMinimum !== undefined || prop.exclusiveMaximum !== undefined) {
      constraints.push(requirement(prop).replace(/^must be /, ''));
    }
    if (checks.includes('readable')) constraints.push('must be a readable file');
    if (checks.includes('url') || checks.includes('optional_url')) constraints.push('a URL');
    if (checks.includes('presence')) constraints.push('required');
    const requires = (prop[X.requires] as string[] | undefined) ?? [];
    if (requires.length) constraints.push(`needs ${requires.map((r) => `\`${r}\``).join(', ')}`);
    return {
      key,
      type: typeName(prop),
      default: prop.default,
      description: String(prop.description ?? ''),
      example: prop[X.example],
      extension: prop[X.extension] === true,
      hidden: prop[X.hidden] === true,
      constraints,
    };
  });
}
