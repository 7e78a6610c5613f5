// Puppet and Ansible run reports → Foreman's host report (foreman_host_reports), following the
// plugin's documented output (spec plugins.md §4): counts, keywords, per-format body.

import { randomUUID } from 'node:crypto';
import { parse } from 'yaml';

export interface HostReport {
  host_report: {
    format: 'puppet' | 'ansible';
    version: 1;
    host: unknown;
    reported_at: string;
    proxy: string;
    body: unknown;
    keywords: string[];
    change: number;
    nochange: number;
    failure: number;
  };
}

export interface FactsUpload {
  name: unknown;
  facts: { ansible_facts: unknown; _type: 'ansible'; _timestamp: unknown };
}

export interface ConvertOptions {
  proxyName: string;
  overrideHostname: string | undefined;
  /** true: `body` is sent as a JSON string (the default); false: as an object. */
  jsonBody: boolean;
}

export interface Converted {
  report: HostReport;
  /** Ansible facts found in the results: uploaded to /api/v2/hosts/facts before the report. */
  facts?: FactsUpload;
}

type Json = Record<string, unknown>;

const MAX_EVAL_TIMES = 29;

/** "2026-12-03 10:00:00 UTC", the form the plugin writes. */
function nowUtc(): string {
  return `${new Date().toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function root(format: 'puppet' | 'ansible', body: Json, o: ConvertOptions, counts: { change: number; nochange: number; failure: number }, keywords: string[]): HostReport {
  return {
    host_report: {
      format,
      version: 1,
      host: body.host,
      reported_at: nowUtc(),
      proxy: o.proxyName,
      body: o.jsonBody ? JSON.stringify(body) : body,
      keywords,
      ...counts,
    },
  };
}

/** metrics.<name>.values is a list of [name, label, value]. */
function metricValues(metrics: unknown, name: string): Record<string, number> {
  const values = isObject(metrics) && isObject(metrics[name]) ? (metrics[name] as Json).values : undefined;
  if (!Array.isArray(values)) throw new Error(`metrics.${name}.values missing`);
  return Object.fromEntries(values.map((v) => (Array.isArray(v) ? [String(v[0]), Number(v[2])] : ['', 0])));
}

export function convertPuppet(text: string, o: ConvertOptions): Converted {
  // Puppet writes Ruby object tags (`--- !ruby/object:Puppet::Transaction::Report`): drop them.
  const data = parse(text.replace(/!ruby\/object.*$/gm, ''), { schema: 'core' }) as unknown;
  if (!isObject(data)) throw new Error('No content');
  const keywords = new Set<string>();
  const errors: string[] = [];
  if (data.status === 'changed') keywords.add('PuppetStatusChanged');
  else if (data.status === 'unchanged') keywords.add('PuppetStatusUnchanged');
  else if (data.status === 'failed') keywords.add('PuppetStatusFailed');
  if (String(data.noop) === 'true') keywords.add('PuppetNoop');
  if (String(data.noop_pending) === 'true') keywords.add('PuppetNoopPending');
  const logs = Array.isArray(data.logs) ? data.logs.filter(isObject).map((l) => [l.level === undefined ? null : String(l.level), l.source, l.message]) : [];
  const statuses: string[] = [];
  const evaluation: [string, number][] = [];
  if (isObject(data.resource_statuses)) {
    for (const [key, value] of Object.entries(data.resource_statuses)) {
      if (!isObject(value)) continue;
      statuses.push(key);
      evaluation.push([key, Number(value.evaluation_time ?? 0)]);
      if (value.failed) keywords.add(`PuppetFailed:${key}`).add('PuppetFailed');
      if (value.failed_to_restart) keywords.add(`PuppetFailedToRestart:${key}`).add('PuppetFailedToRestart');
      if (value.corrective_change) keywords.add('PuppetCorrectiveChange');
      if (value.skipped) keywords.add('PuppetSkipped');
      if (value.restarted) keywords.add('PuppetRestarted');
      if (value.scheduled) keywords.add('PuppetScheduled');
      if (value.out_of_sync) keywords.add('PuppetOutOfSync');
      if (data.environment) keywords.add(`PuppetEnvironment:${String(data.environment)}`);
    }
  }
  evaluation.sort((a, b) => b[1] - a[1]);
  let evaluationTimes = evaluation;
  if (evaluation.length > MAX_EVAL_TIMES) {
    const others = evaluation.slice(MAX_EVAL_TIMES).reduce((sum, e) => sum + e[1], 0);
    evaluationTimes = evaluation.slice(0, MAX_EVAL_TIMES);
    if (others > 0.0001) evaluationTimes.push(['Others', others]);
  }
  let foreman = { change: 0, nochange: 0, failure: 0 };
  let native: Record<string, number> = {};
  try {
    const events = metricValues(data.metrics, 'events');
    native = metricValues(data.metrics, 'resources');
    const success = events.success ?? 0;
    const failure = events.failure ?? 0;
    foreman = { change: success, nochange: (native.total ?? 0) - failure - success, failure };
  } catch (err) {
    errors.push(`Unable to parse summary counts: ${(err as Error).message}`);
  }
  const body: Json = {
    format: 'puppet',
    id: typeof data.transaction_uuid === 'string' ? data.transaction_uuid : randomUUID(),
    host: o.overrideHostname ?? data.host,
    proxy: o.proxyName,
    reported_at: data.time,
    reported_at_proxy: nowUtc(),
    report_format: data.report_format,
    puppet_version: data.puppet_version,
    environment: data.environment,
    metrics: data.metrics,
    logs,
    resource_statuses: statuses,
    summary: { foreman, native },
    evaluation_times: evaluationTimes,
    keywords: [...keywords],
    ...(errors.length > 0 ? { errors } : {}),
  };
  return { report: root('puppet', body, o, foreman, [...keywords]) };
}

/** A short text for a task result, for the common modules; "N/A" otherwise. */
function friendlyMessage(result: Json): unknown {
  const r = isObject(result.result) ? result.result : {};
  const task = isObject(result.task) ? result.task : {};
  if (typeof task.action !== 'string') return 'N/A';
  if (result.failed) return r.msg;
  const action = task.action.replace(/^ansible\.(builtin|posix)\./, '');
  switch (action) {
    case 'command':
    case 'shell':
      return r.stdout_lines;
    case 'copy':
    case 'template':
      return `Copy ${String(r.src ?? '')} to ${String(r.dest ?? '')}`;
    case 'package':
    case 'dnf':
    case 'yum':
    case 'apt': {
      const args = isObject(r.invocation) && isObject(r.invocation.module_args) ? r.invocation.module_args : {};
      const names = Array.isArray(args.name) ? args.name.join(', ') : String(args.name ?? '');
      return `Package(s) ${names} are ${String(args.state ?? 'present')}`;
    }
    case 'service':
    case 'systemd':
      return `Service ${String(r.name ?? '')} is ${String(r.state ?? 'unchanged')}`;
    case 'acl':
    case 'firewalld':
    case 'selinux':
      return r.msg;
    default:
      return 'N/A';
  }
}

export function convertAnsible(text: string, o: ConvertOptions): Converted {
  const data = JSON.parse(text) as unknown;
  if (!isObject(data)) throw new Error('the report is not a JSON object');
  const keywords = new Set<string>();
  const counts = { change: 0, nochange: 0, failure: 0 };
  const results = Array.isArray(data.results) ? data.results : [];
  let facts: unknown;
  for (const result of results) {
    if (!isObject(result) || !isObject(result.result)) throw new Error("Report do not contain required 'results/result' element");
    if (!isObject(result.task)) throw new Error("Report do not contain required 'results/task' element");
    const changed = Boolean(result.result.changed);
    result.level = result.failed ? 'err' : changed ? 'notice' : 'info';
    result.friendly_message = friendlyMessage(result);
    if (result.failed) keywords.add('AnsibleFailure').add(`AnsibleFailure:${String(result.task.action)}`);
    else if (changed) keywords.add('AnsibleChanged');
    if (changed) counts.change++;
    else counts.nochange++;
    if (result.failed) counts.failure++;
    if (facts === undefined && result.result.ansible_facts !== undefined) facts = result.result.ansible_facts;
  }
  let native: Json = {};
  if (isObject(data.summary)) native = data.summary;
  else if (isObject(data.status)) {
    const s = data.status;
    native = { changed: s.applied ?? 0, failures: s.failed ?? 0, ignored: 0, ok: 0, rescued: 0, skipped: s.skipped ?? 0, unreachable: 0 };
  }
  const host = o.overrideHostname ?? data.host;
  const body: Json = {
    format: 'ansible',
    id: typeof data.uuid === 'string' ? data.uuid : randomUUID(),
    host,
    proxy: o.proxyName,
    reported_at: data.reported_at,
    reported_at_proxy: nowUtc(),
    results,
    summary: { foreman: counts, native },
    keywords: [...keywords],
    check_mode: data.check_mode,
  };
  return {
    report: root('ansible', body, o, counts, [...keywords]),
    ...(facts !== undefined ? { facts: { name: host, facts: { ansible_facts: facts, _type: 'ansible' as const, _timestamp: data.reported_at } } } : {}),
  };
}
