// The `script` module (spec remote-execution.md §2.6, §3.1): Foreman's remote execution provider.
// It registers the `ssh` operation on the dynflow engine and serves `/ssh/*`: the proxy's SSH public
// keys, the Cockpit session bridge and, in the pull modes, the endpoints hosts fetch their jobs from.
// Push mode (`ssh`) runs scripts in process over ssh2 (src/lib/ssh); pull modes store a job and let
// the host fetch it, notified over MQTT in `pull-mqtt` (./pull).

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { Static } from '../../core/settings/schema.ts';
import { SCRIPT_ERRORS } from './errors.ts';

export const SCRIPT_MODES = ['ssh', 'pull', 'pull-mqtt'] as const;
export const SSH_LOG_LEVELS = ['debug', 'info', 'error', 'fatal'] as const;
export type ScriptMode = (typeof SCRIPT_MODES)[number];
export type SshLogLevel = (typeof SSH_LOG_LEVELS)[number];

export const SCRIPT_SETTINGS = setting.settings({
  // Strings checked in validate(), for the reference's own messages.
  mode: setting.string({
    default: 'ssh',
    description:
      'How scripts reach the hosts: ssh (the proxy connects to each host), pull-mqtt (hosts are notified over MQTT and fetch the job over HTTPS) or pull (hosts poll GET /ssh/jobs). Shown in /v2/features.',
  }),
  ssh_identity_key_file: setting.file({
    default: '~/.ssh/id_rsa_foreman_proxy',
    description:
      "Private key the proxy logs in with; its public key is `<file>.pub` (served by GET /ssh/pubkey) and an optional SSH user certificate `<file>-cert.pub`. `~` is the proxy user's home directory.",
  }),
  ssh_user_ca_public_key_file: setting.file({
    description: "Public key of the SSH CA that signed the proxy's key: served by GET /ssh/ca_pubkey, and `<key>-cert.pub` must then exist.",
    example: '/etc/foreman-proxy/ssh_user_ca.pub',
  }),
  ssh_ca_known_hosts_file: setting.file({
    description:
      'known_hosts file of host CAs (`@cert-authority * <key>` lines). When set, host key checking is strict: only keys pinned in known_hosts_file or sent by Foreman (host_public_key) are accepted. The in-process runner does not verify host certificates (see README).',
    example: '/var/lib/foreman-proxy/ssh/foreman_known_hosts_ca',
  }),
  ssh_user: setting.string({
    default: 'root',
    description: 'Declared for compatibility and unused: the login user always comes from the job (ssh_user of the task input).',
  }),
  remote_working_dir: setting.string({
    default: '/var/tmp',
    description: 'Directory on the host under which each run gets its own `foreman-ssh-cmd-<runner id>` directory (Foreman may override it per host).',
  }),
  local_working_dir: setting.string({
    default: '/var/tmp',
    description: 'Declared for compatibility; the in-process SSH runner keeps no local per-run files.',
  }),
  socket_working_dir: setting.string({
    default: '/var/tmp',
    description: 'Declared for compatibility; the in-process SSH runner uses no OpenSSH control sockets.',
  }),
  kerberos_auth: setting.boolean({
    default: false,
    description: 'Also try Kerberos (gssapi-with-mic). Not supported by the in-process SSH runner: a warning is logged and the other methods are tried.',
  }),
  cockpit_integration: setting.boolean({
    default: true,
    description: 'Serve POST /ssh/session (the Cockpit web console bridge) and advertise the `cockpit` capability.',
  }),
  runner_refresh_interval: setting.number({
    exclusiveMinimum: 0,
    unit: 'seconds',
    description: 'Declared for compatibility: output is streamed as it arrives, nothing is polled.',
    example: 1,
  }),
  ssh_log_level: setting.string({
    default: 'error',
    description: "How much of the SSH connection set-up is logged: debug, info, error or fatal; may not be more verbose than the proxy's log_level.",
  }),
  cleanup_working_dirs: setting.boolean({
    default: true,
    description: "Remove each run's remote working directory afterwards (Foreman may override it per host).",
  }),
  mqtt_broker: setting.string({
    description: 'MQTT broker host name (pull-mqtt).',
    example: 'proxy.example.com',
  }),
  mqtt_port: setting.integer({
    minimum: 1,
    maximum: 65535,
    description: 'MQTT broker port (pull-mqtt).',
    example: 1883,
  }),
  mqtt_tls: setting.boolean({
    description:
      "TLS to the broker with the proxy's client certificate. Unset: TLS when a certificate, key and CA are all configured (foreman_ssl_*, else ssl_* of settings.yml).",
  }),
  mqtt_ttl: setting.integer({
    default: 5,
    minimum: 1,
    unit: 'seconds',
    description: 'How long a notified job may take to be fetched before it stops counting against the rate limit and is scheduled for a resend.',
  }),
  mqtt_resend_interval: setting.integer({
    default: 900,
    minimum: 1,
    unit: 'seconds',
    description: 'Time between a missed pickup and the next notification of the same job.',
  }),
  mqtt_rate_limit: setting.integer({
    minimum: 1,
    description: 'Jobs notified-and-waiting or running at once (pull-mqtt). Unset: unlimited.',
    example: 200,
  }),
  max_concurrent_hosts: setting.integer({
    extension: true,
    default: 100,
    minimum: 1,
    description: 'SSH hosts connected at once by this proxy; more wait in a queue (push mode).',
  }),
  max_queued_hosts: setting.integer({
    extension: true,
    default: 10000,
    minimum: 0,
    description: 'Host runs that may wait for a connection slot; beyond that a run fails at once with a clear error.',
  }),
  connect_timeout: setting.integer({
    extension: true,
    default: 30,
    minimum: 1,
    maximum: 600,
    unit: 'seconds',
    description: 'Deadline for the TCP connection, SSH handshake and authentication to a host.',
  }),
  kill_grace_period: setting.integer({
    extension: true,
    default: 10,
    minimum: 0,
    maximum: 600,
    unit: 'seconds',
    description: "Grace between SIGTERM and SIGKILL to the script's process group when a run is cancelled or times out.",
  }),
  known_hosts_file: setting.file({
    extension: true,
    default: '~/.ssh/known_hosts',
    description: 'Where host keys learned on first contact are pinned (OpenSSH known_hosts format). `~` is the proxy user\'s home directory.',
  }),
  cancel_grace_period: setting.integer({
    extension: true,
    default: 300,
    minimum: 1,
    unit: 'seconds',
    description:
      'Pull modes: after a cancel or timeout of a job the host already fetched, how long to wait for its exit report before the task is finished with an error anyway.',
  }),
});

export type ScriptSettings = Static<typeof SCRIPT_SETTINGS>;

export default defineModule({
  name: 'script',
  summary: 'Remote execution (/ssh): runs Foreman jobs over SSH or hands them to pull hosts; needs the dynflow module.',
  prefixes: ['/ssh'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  // The reference keeps feature `script` in remote_execution_ssh.yml.
  settingsFile: 'remote_execution_ssh',
  // Spec §2.1: trusted_hosts + client certificate for /ssh/session; the public keys are open; the
  // pull-host routes skip trusted_hosts (hosts are never listed there) and identify the host by
  // the CN of its verified client certificate.
  authorize: true,
  pathAuthorization: { '/ssh/pubkey': 'none', '/ssh/ca_pubkey': 'none', '/ssh/jobs': 'client-certificate' },
  requires: ['dynflow'],
  settings: SCRIPT_SETTINGS,
  // Foreman stores settings as an opaque object and reads none of script's; `mode` lets an
  // operator (and a future Foreman) see whether a proxy is push or pull (spec §8.11).
  exposedSettings: ['mode'],
  errors: SCRIPT_ERRORS,
  validate(s) {
    if (!(SCRIPT_MODES as readonly string[]).includes(s.mode)) return { key: 'mode', message: `Mode has to be one of ${SCRIPT_MODES.join(', ')}, given ${s.mode}` };
    if (!(SSH_LOG_LEVELS as readonly string[]).includes(s.ssh_log_level)) {
      return { key: 'ssh_log_level', message: `Wrong value '${s.ssh_log_level}' for ssh_log_level, must be one of ${SSH_LOG_LEVELS.join(', ')}` };
    }
    if (s.mode === 'pull-mqtt') {
      if (s.mqtt_broker === undefined || s.mqtt_broker === '') return { key: 'mqtt_broker', message: 'mqtt_broker has to be set when pull-mqtt mode is used' };
      if (s.mqtt_port === undefined) return { key: 'mqtt_port', message: 'mqtt_port has to be set when pull-mqtt mode is used' };
    }
    return undefined;
  },
  async create(ctx) {
    return (await import('./api.ts')).scriptModule(ctx);
  },
});
