// The dynflow module (spec remote-execution.md §2.3, §3.2): the task engine behind Foreman's
// remote execution. It serves /dynflow (launch, status, cancel, count …) and exports the engine
// (`DynflowEngine`) on which script and later plugins register their operations.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { DYNFLOW_ERRORS } from './errors.ts';

export const DEFAULT_DATABASE = '/var/lib/foreman-proxy/dynflow/tasks.sqlite';

export const DYNFLOW_SETTINGS = setting.settings({
  database: setting.file({
    description:
      `SQLite file holding tasks, their output, callbacks and pull jobs. Unset or empty: ${DEFAULT_DATABASE} (the reference keeps tasks in memory then; here they survive a restart). ':memory:' keeps them in memory, lost on restart.`,
  }),
  console_auth: setting.boolean({
    default: true,
    description: "Require a client certificate for /dynflow/console. Accepted for compatibility; this proxy has no Dynflow web console.",
  }),
  execution_plan_cleaner_age: setting.integer({
    default: 1800,
    minimum: 1,
    unit: 'seconds',
    description: 'Stopped tasks older than this are deleted; the cleaner also runs this often. Tasks whose callback to Foreman is still being retried are kept.',
  }),
  database_url: setting.string({
    extension: true,
    example: 'postgres://foreman_proxy:secret@db.example.com/foreman_proxy_tasks',
    description:
      'PostgreSQL URL (postgres://…) for replicas: proxies sharing one database share their tasks and their work queue (pg-boss). The environment variable DYNFLOW_DB_CONN_STRING overrides it. Unset: the SQLite file of :database:.',
  }),
  secrets_key_file: setting.file({
    extension: true,
    description:
      'File with the key that seals task secrets (SSH passwords, passphrases) in the database: 32 bytes, 64 hex characters or a passphrase of 16+ characters. Replicas need the same key. Unset: a random key per process, so secrets of tasks interrupted by a restart are lost and those tasks fail.',
    checks: ['readable'],
  }),
  output_limit_bytes: setting.integer({
    extension: true,
    default: 10 * 1024 * 1024,
    minimum: 1024,
    unit: 'bytes',
    description: 'Output kept per task; what comes after is dropped, and the task output ends with a debug line saying how much.',
  }),
  callback_retry_hours: setting.number({
    extension: true,
    default: 24,
    minimum: 0,
    unit: 'hours',
    description: 'How long a failed callback to Foreman is retried (exponential backoff from 5 s up to 15 min between attempts). 0: one attempt.',
  }),
  max_running_tasks: setting.integer({
    extension: true,
    default: 100,
    minimum: 1,
    maximum: 100000,
    description: 'Host tasks this proxy (replica) runs at once; more wait in the queue in launch order.',
  }),
});

export default defineModule({
  name: 'dynflow',
  summary: 'Task engine for remote execution (/dynflow): Foreman launches, polls and cancels tasks here; completion callbacks go back to Foreman.',
  prefixes: ['/dynflow'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: DYNFLOW_SETTINGS,
  exposedSettings: [],
  errors: DYNFLOW_ERRORS,
  validate(s) {
    if (s.database_url !== undefined && s.database_url !== '' && !/^postgres(ql)?:\/\//i.test(s.database_url)) {
      return { key: 'database_url', message: 'database_url must be a PostgreSQL URL (postgres://user:password@host:port/database)' };
    }
    return undefined;
  },
  // Code is loaded when the module is created, so a disabled module costs nothing.
  create: async (ctx) => (await import('./api.ts')).dynflowModule(ctx),
});
