// The in-process SSH runner's interface (spec remote-execution.md §4, done with the ssh2 library
// instead of one OpenSSH process tree per host). `src/lib/ssh/runner.ts` implements it; the script
// module's push mode calls it once per host task.

export interface SshTarget {
  /** IP or FQDN (action_input.hostname). */
  readonly host: string;
  readonly port: number;
  /** Login user (action_input.ssh_user, default root). */
  readonly user: string;
}

export interface SshCredentials {
  /** The proxy's private key (ssh_identity_key_file), PEM/OpenSSH text. */
  readonly privateKey?: string;
  /** Passphrase of privateKey (secrets.key_passphrase). */
  readonly passphrase?: string;
  /** secrets.ssh_password: password (and keyboard-interactive) login. */
  readonly password?: string;
}

export type EffectiveUserMethod = 'sudo' | 'su' | 'dzdo';

export interface ScriptRun {
  /** The job script; CR characters are stripped before upload. */
  readonly script: string;
  /** Runs as this user when set and different from the login user (spec §4.6). */
  readonly effectiveUser?: string;
  readonly effectiveUserMethod: EffectiveUserMethod;
  /** Answered to the sudo/su/dzdo prompt; never appears in the output. */
  readonly effectiveUserPassword?: string;
  /** Base directory on the host; the run uses <dir>/foreman-ssh-cmd-<runner id>. */
  readonly remoteWorkingDir: string;
  readonly cleanup: boolean;
  /** Known host key for this host (action_input.host_public_key): pinned for this run only. */
  readonly hostPublicKey?: string;
  /** first_execution: forget the stored key of this host before connecting (host rebuilt). */
  readonly firstExecution?: boolean;
  /** Aborting kills the remote process group (TERM, then KILL after a grace period). */
  readonly signal: AbortSignal;
  /** Output as it arrives, in bounded chunks (≤ 64 KiB), already UTF-8 text. */
  onOutput(type: 'stdout' | 'stderr' | 'debug', text: string): void | Promise<void>;
  /** The runner id (UUID) chosen for this run, as soon as it is known. */
  onStart?(runnerId: string): void;
}

export interface ScriptResult {
  /** The script's exit code; 'EXCEPTION' when the run failed before or around the script (with a debug line saying why). */
  readonly exitStatus: number | 'EXCEPTION';
  readonly runnerId: string;
}

/** Where host keys learned on first contact are pinned (a file in the reference; a table here). */
export interface KnownHostsStore {
  /** Base64 keys (`<type> <base64>`) known for `host:port`. */
  get(hostPort: string): Promise<string[]>;
  add(hostPort: string, key: string): Promise<void>;
  forget(hostPort: string): Promise<void>;
}

export interface SshRunnerOptions {
  /** Hosts connected at once in this process (the bulkhead); more wait in a FIFO queue. */
  readonly maxConcurrentHosts: number;
  /** Queue length beyond which runs fail at once with a clear error. */
  readonly maxQueued: number;
  /** Deadline for TCP connect + SSH handshake + authentication. */
  readonly connectTimeoutMs: number;
  /** Keepalive: a host silent for interval × count is declared gone (reference: 15 s × 3). */
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  /** Grace between TERM and KILL when a run is cancelled or times out. */
  readonly killGraceMs: number;
  readonly knownHosts: KnownHostsStore;
  /** `accept-new` (trust on first use, then pinned) or `strict` (only known keys). */
  readonly hostKeyPolicy: 'accept-new' | 'strict';
}

export interface SshRunner {
  run(target: SshTarget, credentials: SshCredentials, run: ScriptRun): Promise<ScriptResult>;
  /** Hosts running / waiting now (metrics, bench). */
  stats(): { active: number; queued: number };
  close(): Promise<void>;
}
