// The in-process SSH runner of push mode (spec remote-execution.md §4, with the fixes of §8): one
// ssh2 connection per host run, every step (prepare, preflight, the run, kill, cleanup) a channel
// on it; output streamed as it arrives; a bulkhead with a FIFO queue in front so thousands of
// waiting hosts cost a queue entry each and nothing else.
//
// Errors before a host leaves the queue (bad input, queue full) reject `run()`; everything after
// that ends as a result, `EXCEPTION` with a debug line when the script did not finish by itself.

import ssh2, { type AnyAuthMethod, type AuthHandlerMiddleware, type ExecOptions, type Client, type ClientChannel, type KeyboardInteractiveCallback, type ParsedKey, type Prompt } from 'ssh2';

// ssh2 is CommonJS: its named exports are only reachable through the default export under ESM.
const { Client: SshClient, utils: sshUtils } = ssh2;
import { connect as tcpConnect, type Socket } from 'node:net';
import { createHash, randomUUID } from 'node:crypto';
import { knownHostsName } from './known-hosts.ts';
import { SshInputError, checkRemoteDir, checkUserName, shellQuote as q } from './quote.ts';
import type { EffectiveUserMethod, ScriptResult, ScriptRun, SshCredentials, SshRunner, SshRunnerOptions, SshTarget } from './types.ts';

export { SshInputError } from './quote.ts';

/** The run could not even wait for a host slot: too many hosts are queued already. */
export class SshQueueFullError extends Error {
  constructor(limit: number, queued: number) {
    super(`SSH runner: ${limit} hosts are connected and ${queued} are waiting, the queue is full; try again later`);
    this.name = 'SshQueueFullError';
  }
}

/** A failure with a message meant for the task output as is. */
class RunFailure extends Error {
  /** Extra debug lines (remote stderr and the like), already redacted. */
  readonly details: string[];
  constructor(message: string, details: string[] = []) {
    super(message);
    this.name = 'RunFailure';
    this.details = details;
  }
}

const EFFECTIVE_USER_METHODS: readonly EffectiveUserMethod[] = ['sudo', 'su', 'dzdo'];
const SUDO_PROMPT = 'rex login: ';
/** Longest text handed to onOutput at once, in UTF-16 units (≤ 64 KiB of UTF-8). */
const MAX_CHUNK_CHARS = 16 * 1024;
/** Chunks waiting for a slow onOutput before the channel is paused (back-pressure to sshd). */
const MAX_PENDING_CHUNKS = 16;
/** Remote text kept from helper commands for error messages. */
const MAX_CAPTURE_CHARS = 8 * 1024;
/** A prompt within this much output after the answer is a "try again" (a refused password). */
const RETRY_PROMPT_WINDOW_CHARS = 256;
/** Secrets in the output become 8 of the first of these characters that no secret contains. */
const MASK_CHARS = '*#~%^=+_.xXoO0123456789';
/**
 * su (PAM's conversation) prints its prompt and only then turns echo off with TCSAFLUSH, which
 * throws away input that is already waiting: an answer sent the instant the prompt arrives can be
 * lost. A short pause lets the program reach its read first.
 */
const PROMPT_ANSWER_DELAY_MS = 150;
const SIGNAL_NUMBERS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, PIPE: 13, ALRM: 14, TERM: 15 };

export function createSshRunner(options: SshRunnerOptions): SshRunner {
  return new Ssh2Runner(options);
}

/** Checks everything that reaches the remote shell; throws SshInputError naming the field. */
export function validateSshRun(target: SshTarget, run: ScriptRun): void {
  if (typeof target.host !== 'string' || target.host === '' || /[\s\0]/.test(target.host) || target.host.startsWith('-')) {
    throw new SshInputError('hostname', `${JSON.stringify(target.host)} is not a host name or address`);
  }
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new SshInputError('ssh_port', `${JSON.stringify(target.port)} is not a port number (1-65535)`);
  }
  checkUserName('ssh_user', target.user);
  if (!EFFECTIVE_USER_METHODS.includes(run.effectiveUserMethod)) {
    throw new SshInputError('effective_user_method', `'${String(run.effectiveUserMethod)}' not supported (one of ${EFFECTIVE_USER_METHODS.join(', ')})`);
  }
  if (run.effectiveUser) checkUserName('effective_user', run.effectiveUser);
  checkRemoteDir('remote_working_dir', run.remoteWorkingDir);
  if (typeof run.script !== 'string') throw new SshInputError('script', 'must be a string');
  if (run.hostPublicKey) parsePublicKeyLine(run.hostPublicKey);
}

// ---------------------------------------------------------------------------------------------
// The bulkhead: at most maxConcurrentHosts runs past this point, the rest wait in FIFO order.

type SlotOutcome = 'slot' | 'aborted' | 'closed';

interface Waiter {
  settle(outcome: SlotOutcome): void;
}

class HostSlots {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private readonly limit: number;
  private readonly maxQueued: number;

  constructor(limit: number, maxQueued: number) {
    this.limit = limit;
    this.maxQueued = maxQueued;
  }

  stats(): { active: number; queued: number } {
    return { active: this.active, queued: this.waiters.length };
  }

  /**
   * Resolves 'slot' once a slot is taken, 'aborted' when `signal` aborted while waiting, 'closed'
   * when the runner closed meanwhile. A free slot is taken synchronously, so stats() right after
   * run() already counts it.
   */
  acquire(signal: AbortSignal): Promise<SlotOutcome> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve('slot');
    }
    if (this.waiters.length >= this.maxQueued) return Promise.reject(new SshQueueFullError(this.limit, this.waiters.length));
    return new Promise<SlotOutcome>((resolve) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve('aborted');
      };
      const waiter: Waiter = {
        settle: (outcome) => {
          signal.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.settle('slot'); // the slot passes straight to the next host
    else this.active--;
  }

  /** Ends every wait: the runner is closing. */
  closeQueue(): void {
    for (const waiter of this.waiters.splice(0)) waiter.settle('closed');
  }
}

// ---------------------------------------------------------------------------------------------
// Output: bytes → UTF-8 text (safe across chunk boundaries) → secrets removed → bounded chunks
// delivered in order to onOutput.

/** Removes secrets from streamed text, holding back a tail that could be the start of one. */
export class Redactor {
  private held = '';
  private readonly secrets: string[];

  private readonly mask: string;

  constructor(secrets: readonly (string | undefined)[]) {
    this.secrets = secrets.filter((s): s is string => typeof s === 'string' && s !== '');
    // The mask is made of a character no secret contains, so masks next to text can never add
    // up to a secret again.
    const maskChar = [...MASK_CHARS].find((c) => !this.secrets.some((s) => s.includes(c))) ?? '*';
    this.mask = maskChar.repeat(8);
  }

  push(text: string): string {
    if (this.secrets.length === 0) return text;
    let s = this.held + text;
    for (const secret of this.secrets) s = s.replaceAll(secret, this.mask);
    let hold = 0;
    for (const secret of this.secrets) {
      for (let k = Math.min(secret.length - 1, s.length); k > hold; k--) {
        if (s.endsWith(secret.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.held = s.slice(s.length - hold);
    return s.slice(0, s.length - hold);
  }

  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }
}

export function splitChunks(text: string): string[] {
  if (text.length <= MAX_CHUNK_CHARS) return [text];
  const chunks: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + MAX_CHUNK_CHARS, text.length);
    // never cut a surrogate pair in two
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    chunks.push(text.slice(start, end));
    start = end;
  }
  return chunks;
}

type OutputType = 'stdout' | 'stderr' | 'debug';

/** Delivers output in order, one onOutput call at a time, and reports back-pressure. */
class OutputSink {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly onOutput: ScriptRun['onOutput'];

  constructor(onOutput: ScriptRun['onOutput']) {
    this.onOutput = onOutput;
  }

  get congested(): boolean {
    return this.pending > MAX_PENDING_CHUNKS;
  }

  emit(type: OutputType, text: string): void {
    if (text === '') return;
    for (const chunk of splitChunks(text)) {
      this.pending++;
      this.chain = this.chain
        .then(() => this.onOutput(type, chunk))
        .catch(() => undefined) // a failing consumer must not break the run
        .then(() => {
          this.pending--;
        });
    }
  }

  debug(line: string): void {
    this.emit('debug', line.endsWith('\n') ? line : `${line}\n`);
  }

  /** Resolves when everything emitted so far was delivered. */
  drained(): Promise<void> {
    return this.chain;
  }
}

/** One remote byte stream turned into redacted text. */
class TextStream {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly redactor: Redactor;

  constructor(secrets: readonly (string | undefined)[]) {
    this.redactor = new Redactor(secrets);
  }

  /** Returns [raw decoded text (for prompt detection), redacted text (for output)]. */
  push(bytes: Buffer): [string, string] {
    const raw = this.decoder.decode(bytes, { stream: true });
    return [raw, this.redactor.push(raw)];
  }

  end(): string {
    return this.redactor.push(this.decoder.decode()) + this.redactor.flush();
  }
}

// ---------------------------------------------------------------------------------------------
// Effective user: prefixes and the password prompt of each method (spec §4.6).

function effectiveUserPrefix(method: EffectiveUserMethod, user: string, script: string): string {
  switch (method) {
    case 'sudo':
      return `sudo -p ${q(SUDO_PROMPT)} -u ${q(user)} -- ${q(script)}`;
    case 'dzdo':
      return `dzdo -u ${q(user)} ${q(script)}`;
    case 'su':
      // su hands -c to the target user's shell: the inner command is quoted once more
      return `su - ${q(user)} -c ${q(`exec ${q(script)} < /dev/null`)}`;
  }
}

function promptPattern(method: EffectiveUserMethod): (text: string) => boolean {
  switch (method) {
    case 'sudo':
      return (t) => t.includes(SUDO_PROMPT);
    case 'dzdo':
      return (t) => /password/i.test(t);
    case 'su':
      return (t) => /password:/i.test(t);
  }
}

/**
 * Watches terminal output for the prompt and answers it with the password, once: the same
 * password given again would be refused again, so a prompt soon after the answer (the tool's
 * "try again") ends the run at once instead of waiting through the tool's retries. A prompt-like
 * text long after the answer is the script's own output and is left alone.
 */
class PromptAnswerer {
  private window = '';
  private answered = false;
  private sinceAnswer = 0;
  /** Set when the run must stop: a prompt without a password, or a refused password. */
  failure: string | undefined;
  private readonly matches: (text: string) => boolean;
  private readonly method: EffectiveUserMethod;
  private readonly password: string | undefined;

  constructor(method: EffectiveUserMethod, password: string | undefined) {
    this.method = method;
    this.password = password;
    this.matches = promptPattern(method);
  }

  /** Feed raw terminal text; returns what to write to the terminal, or undefined. */
  see(text: string): string | undefined {
    if (this.answered) {
      if (this.sinceAnswer > RETRY_PROMPT_WINDOW_CHARS) return undefined;
      this.sinceAnswer += text.length;
    }
    this.window = (this.window + text).slice(-128);
    if (!this.matches(this.window)) return undefined;
    this.window = '';
    if (!this.password) {
      this.failure = `${this.method} asked for a password but no effective_user_password was given`;
      return undefined;
    }
    if (this.answered) {
      this.failure = `${this.method} asked for the password again: the effective_user_password was refused`;
      return undefined;
    }
    this.answered = true;
    return `${this.password}\n`;
  }
}

/**
 * Parsed private keys by content. Decrypting a passphrase-protected OpenSSH key runs bcrypt-pbkdf
 * in JavaScript (about a second, blocking): done once per key and passphrase, not once per host.
 */
const parsedKeys = new Map<string, ParsedKey | Error>();

function parsedKey(privateKey: string, passphrase: string | undefined): ParsedKey | Error {
  const id = createHash('sha256').update(privateKey).update('\0').update(passphrase ?? '').digest('base64');
  let parsed = parsedKeys.get(id);
  if (!parsed) {
    const result = sshUtils.parseKey(privateKey, passphrase);
    // parseKey returns an array for files holding several keys; the proxy's key file holds one
    parsed = Array.isArray(result) ? (result[0] as ParsedKey | undefined) ?? new Error('no key found') : result;
    if (parsedKeys.size > 16) parsedKeys.clear();
    parsedKeys.set(id, parsed);
  }
  return parsed;
}

function answerLater(channel: ClientChannel, answer: string): void {
  setTimeout(() => {
    if (channel.writable) channel.write(answer);
  }, PROMPT_ANSWER_DELAY_MS).unref();
}

// ---------------------------------------------------------------------------------------------
// Host keys

function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function fingerprintOf(keyLine: string): string {
  const b64 = keyLine.split(' ')[1] ?? '';
  return fingerprint(Buffer.from(b64, 'base64'));
}

/** `<type> <base64>` from an authorized_keys or known_hosts style line (comment and host dropped). */
function parsePublicKeyLine(text: string): string {
  const words = text.trim().split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    const [type, b64] = [words[i] as string, words[i + 1] as string];
    if (!/^(ssh-|ecdsa-|sk-)/.test(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue;
    const blob = Buffer.from(b64, 'base64');
    if (keyType(blob) === type) return `${type} ${b64}`;
  }
  throw new SshInputError('host_public_key', 'is not an SSH public key ("<type> <base64>")');
}

// ---------------------------------------------------------------------------------------------

/** The exit status an exec channel reported (null until it did). */
interface ExitStatusRecord {
  code: number | null;
  signal: string | null;
}

interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

class Ssh2Runner implements SshRunner {
  private readonly options: SshRunnerOptions;
  private readonly slots: HostSlots;
  private readonly connections = new Set<Client>();
  private closed = false;

  constructor(options: SshRunnerOptions) {
    for (const key of ['maxConcurrentHosts', 'connectTimeoutMs', 'keepaliveIntervalMs', 'keepaliveCountMax'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw new RangeError(`SSH runner: ${key} must be a positive integer`);
    }
    if (!Number.isInteger(options.maxQueued) || options.maxQueued < 0) throw new RangeError('SSH runner: maxQueued must be a non-negative integer');
    if (!Number.isInteger(options.killGraceMs) || options.killGraceMs < 0) throw new RangeError('SSH runner: killGraceMs must be a non-negative integer');
    if (options.hostKeyPolicy !== 'accept-new' && options.hostKeyPolicy !== 'strict') throw new RangeError("SSH runner: hostKeyPolicy must be 'accept-new' or 'strict'");
    this.options = options;
    this.slots = new HostSlots(options.maxConcurrentHosts, options.maxQueued);
  }

  stats(): { active: number; queued: number } {
    return this.slots.stats();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.slots.closeQueue();
    for (const conn of this.connections) conn.destroy();
    this.connections.clear();
  }

  async run(target: SshTarget, credentials: SshCredentials, run: ScriptRun): Promise<ScriptResult> {
    if (this.closed) throw new Error('SSH runner: closed');
    validateSshRun(target, run);
    // Nothing per host is allocated before this resolves: a queued host costs one waiter.
    const outcome = await this.slots.acquire(run.signal);
    const runnerId = randomUUID();
    if (outcome !== 'slot' || this.closed) {
      if (outcome === 'slot') this.slots.release();
      run.onStart?.(runnerId);
      const out = new OutputSink(run.onOutput);
      out.debug(
        outcome === 'aborted'
          ? `The job was cancelled while waiting for a free connection slot (${abortReason(run.signal)})`
          : 'The SSH runner was shut down while the job waited for a free connection slot',
      );
      await out.drained();
      return { exitStatus: 'EXCEPTION', runnerId };
    }
    try {
      return await new HostRun(this.options, target, credentials, run, runnerId, this.connections).execute();
    } finally {
      this.slots.release();
    }
  }
}

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r.message;
  if (typeof r === 'string') return r;
  return 'cancelled';
}

/** Everything about one host run; created only when the host leaves the queue. */
class HostRun {
  private readonly out: OutputSink;
  private readonly hostName: string;
  private readonly where: string;
  private readonly dir: string;
  private readonly effectiveUser: string | undefined;
  private conn: Client | undefined;
  private lostReason: string | undefined;
  private dirCreated = false;

  private readonly options: SshRunnerOptions;
  private readonly target: SshTarget;
  private readonly credentials: SshCredentials;
  private readonly run: ScriptRun;
  private readonly runnerId: string;
  private readonly connections: Set<Client>;

  constructor(options: SshRunnerOptions, target: SshTarget, credentials: SshCredentials, run: ScriptRun, runnerId: string, connections: Set<Client>) {
    this.options = options;
    this.target = target;
    this.credentials = credentials;
    this.run = run;
    this.runnerId = runnerId;
    this.connections = connections;
    this.out = new OutputSink(run.onOutput);
    this.hostName = knownHostsName(target.host, target.port);
    this.where = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    const base = run.remoteWorkingDir.replace(/\/+$/, '') || '';
    this.dir = `${base}/foreman-ssh-cmd-${runnerId}`;
    this.effectiveUser = run.effectiveUser && run.effectiveUser !== target.user ? run.effectiveUser : undefined;
  }

  private get secrets(): (string | undefined)[] {
    return [this.run.effectiveUserPassword, this.credentials.password, this.credentials.passphrase];
  }

  private redact(text: string): string {
    const r = new Redactor(this.secrets);
    return r.push(text) + r.flush();
  }

  async execute(): Promise<ScriptResult> {
    this.run.onStart?.(this.runnerId);
    let exitStatus: ScriptResult['exitStatus'] = 'EXCEPTION';
    try {
      if (this.run.signal.aborted) throw new RunFailure(`The job was cancelled before connecting (${abortReason(this.run.signal)})`);
      this.conn = await this.connect();
      await this.prepare();
      await this.preflight();
      exitStatus = await this.runScript();
    } catch (err) {
      const failure = err instanceof RunFailure ? err : new RunFailure(`Unexpected error: ${err instanceof Error ? err.message : String(err)}`);
      this.out.debug(this.redact(failure.message));
      for (const line of failure.details) this.out.debug(line);
    } finally {
      await this.cleanup();
    }
    await this.out.drained();
    return { exitStatus, runnerId: this.runnerId };
  }

  // --- connection ------------------------------------------------------------------------------

  private authMethods(): { methods: AnyAuthMethod[]; notes: string[] } {
    const username = this.target.user;
    const { password, privateKey, passphrase } = this.credentials;
    const methods: AnyAuthMethod[] = [];
    const notes: string[] = [];
    if (password) {
      methods.push({ type: 'password', username, password });
      methods.push({
        type: 'keyboard-interactive',
        username,
        prompt: (_name: string, _instructions: string, _lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => {
          finish(prompts.map(() => password));
        },
      });
    }
    if (privateKey) {
      const parsed = parsedKey(privateKey, passphrase);
      if (parsed instanceof Error) {
        notes.push(
          /encrypted|passphrase/i.test(parsed.message)
            ? passphrase
              ? 'publickey skipped: the private key could not be decrypted with the given key_passphrase'
              : 'publickey skipped: the private key is protected by a passphrase and no key_passphrase was given'
            : `publickey skipped: the private key cannot be read (${parsed.message})`,
        );
      } else {
        methods.push({ type: 'publickey', username, key: parsed });
      }
    }
    return { methods, notes };
  }

  private async connect(): Promise<Client> {
    if (this.run.firstExecution && !this.run.hostPublicKey) {
      // The host was (re)built: whatever key it had before is no evidence now.
      await this.options.knownHosts.forget(this.hostName);
    }
    return this.openConnection();
  }

  private openConnection(): Promise<Client> {
    const { host, port } = this.target;
    const timeoutMs = this.options.connectTimeoutMs;
    const { methods, notes } = this.authMethods();
    if (methods.length === 0) {
      return Promise.reject(
        new RunFailure(`There are no available authentication methods for ${this.where}: no ssh_password and no usable private key${notes.length ? ` (${notes.join('; ')})` : ''}`),
      );
    }
    return new Promise<Client>((resolve, reject) => {
      let phase: 'tcp' | 'handshake' | 'auth' = 'tcp';
      let settled = false;
      let hostKeyFailure: string | undefined;
      const tried: string[] = [];
      const conn = new SshClient();

      const fail = (message: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.run.signal.removeEventListener('abort', onAbort);
        conn.destroy();
        sock.destroy();
        this.connections.delete(conn);
        reject(new RunFailure(message));
      };
      const timer = setTimeout(() => {
        fail(
          phase === 'tcp'
            ? `Could not connect to ${this.where}: no TCP connection within ${timeoutMs} ms`
            : phase === 'handshake'
              ? `Could not connect to ${this.where}: the host accepted the TCP connection but did not complete the SSH handshake within ${timeoutMs} ms`
              : `Could not connect to ${this.where}: SSH authentication did not finish within ${timeoutMs} ms`,
        );
      }, timeoutMs);
      const onAbort = (): void => fail(`The job was cancelled while connecting to ${this.where} (${abortReason(this.run.signal)})`);
      this.run.signal.addEventListener('abort', onAbort, { once: true });

      const verifyHostKey = async (blob: Buffer): Promise<boolean> => {
        const offered = `${keyType(blob)} ${blob.toString('base64')}`;
        if (this.run.hostPublicKey) {
          const pinned = parsePublicKeyLine(this.run.hostPublicKey);
          if (pinned === offered) return true;
          hostKeyFailure = `Host key verification failed for ${this.where}: it offered ${keyType(blob)} ${fingerprint(blob)}, but this job pins ${fingerprintOf(pinned)} (host_public_key)`;
          return false;
        }
        const known = await this.options.knownHosts.get(this.hostName);
        if (known.length === 0) {
          if (this.options.hostKeyPolicy === 'strict') {
            hostKeyFailure = `Host key verification failed for ${this.where}: its key (${keyType(blob)} ${fingerprint(blob)}) is not known and the host key policy is strict`;
            return false;
          }
          await this.options.knownHosts.add(this.hostName, offered);
          this.out.debug(`Pinned the host key of ${this.where} on first contact: ${keyType(blob)} ${fingerprint(blob)}`);
          return true;
        }
        if (known.includes(offered)) return true;
        hostKeyFailure =
          `Host key verification failed for ${this.where}: the host key has changed. ` +
          `Known: ${known.map(fingerprintOf).join(', ')}; offered now: ${keyType(blob)} ${fingerprint(blob)}. ` +
          `If the host was rebuilt, run the job with first_execution or remove its known key (DELETE /ssh/known_hosts/${this.target.host})`;
        return false;
      };

      const authHandler = (authsLeft: string[] | null, _partial: boolean, next: (m: AnyAuthMethod | false) => void): void => {
        for (;;) {
          const method = methods.shift();
          if (!method) {
            next(false);
            return;
          }
          if (authsLeft && authsLeft.length > 0 && !authsLeft.includes(method.type)) {
            notes.push(`${method.type} not offered by the server`);
            continue;
          }
          tried.push(method.type);
          next(method);
          return;
        }
      };

      conn.on('handshake', () => {
        phase = 'auth';
      });
      conn.on('error', (err: Error & { level?: string }) => {
        if (!settled) {
          if (hostKeyFailure) fail(hostKeyFailure);
          else if (err.level === 'client-authentication') {
            fail(
              `Could not establish connection to remote host using any available authentication method, tried ${tried.length ? tried.join(', ') : 'none'}` +
                (notes.length ? ` (${notes.join('; ')})` : ''),
            );
          } else fail(`SSH connection to ${this.where} failed: ${err.message}`);
          return;
        }
        // e.g. keepalive timeout: ssh2 only half-closes, and a frozen host never finishes the
        // close, so tear the socket down; that closes every channel on it.
        this.lostReason ??= err.message;
        conn.destroy();
      });
      conn.on('close', () => {
        this.lostReason ??= 'the connection was closed';
        this.connections.delete(conn);
        if (!settled) fail(hostKeyFailure ?? `SSH connection to ${this.where} was closed during the ${phase === 'auth' ? 'authentication' : 'handshake'}`);
      });
      conn.on('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.run.signal.removeEventListener('abort', onAbort);
        resolve(conn);
      });

      const sock: Socket = tcpConnect({ host, port });
      sock.once('error', (err) => fail(`Could not connect to ${this.where}: ${err.message}`));
      sock.once('connect', () => {
        if (settled) return;
        phase = 'handshake';
        this.connections.add(conn);
        conn.connect({
          sock,
          username: this.target.user,
          readyTimeout: 0, // our own timer covers TCP + handshake + authentication
          keepaliveInterval: this.options.keepaliveIntervalMs,
          keepaliveCountMax: this.options.keepaliveCountMax,
          hostVerifier: (blob: Buffer, verify: (ok: boolean) => void): void => {
            verifyHostKey(blob).then(verify, (err: unknown) => {
              hostKeyFailure = `Host key verification failed for ${this.where}: ${err instanceof Error ? err.message : String(err)}`;
              verify(false);
            });
          },
          // ssh2 accepts `false` ("no more methods"), which its typings leave out
          authHandler: authHandler as unknown as AuthHandlerMiddleware,
        });
      });
    });
  }

  // --- helper commands -------------------------------------------------------------------------

  /**
   * Opens an exec channel. The exit status is recorded from the moment the channel exists: ssh2
   * parses a whole TCP chunk at once, so a fast command's `exit` can arrive in the same chunk as
   * the channel confirmation, before an awaiting caller could attach its own listener.
   */
  private openChannel(command: string, pty: boolean): Promise<{ channel: ClientChannel; exit: ExitStatusRecord }> {
    const conn = this.conn;
    if (!conn || this.lostReason) return Promise.reject(new RunFailure(`The connection to ${this.where} was lost: ${this.lostReason ?? 'not connected'}`));
    return new Promise((resolve, reject) => {
      // No echo (the password never comes back), no CR added before LF.
      const opts: ExecOptions = pty ? { pty: { term: 'dumb', rows: 24, cols: 200, modes: { ECHO: 0, ONLCR: 0 } } } : {};
      conn.exec(command, opts, (err, channel) => {
        if (err) return reject(new RunFailure(`Could not open an SSH channel on ${this.where}: ${err.message}`));
        const exit: ExitStatusRecord = { code: null, signal: null };
        channel.on('exit', (code: number | null, signal?: string) => {
          exit.code = code;
          exit.signal = signal ?? null;
        });
        resolve({ channel, exit });
      });
    });
  }

  /** Runs a helper command, collecting (a bounded amount of) its output. */
  private async exec(command: string, opts: { stdin?: string; pty?: boolean; answerer?: PromptAnswerer; signal?: AbortSignal } = {}): Promise<ExecResult> {
    const { channel, exit } = await this.openChannel(command, opts.pty ?? false);
    const stdout = new TextStream(this.secrets);
    const stderr = new TextStream(this.secrets);
    const result: ExecResult = { code: null, signal: null, stdout: '', stderr: '' };
    const keep = (current: string, text: string): string => (current.length < MAX_CAPTURE_CHARS ? (current + text).slice(0, MAX_CAPTURE_CHARS) : current);
    return new Promise<ExecResult>((resolve, reject) => {
      const onAbort = (): void => {
        channel.close();
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      channel.on('data', (bytes: Buffer) => {
        const [raw, text] = stdout.push(bytes);
        result.stdout = keep(result.stdout, text);
        if (opts.answerer) {
          const answer = opts.answerer.see(raw);
          if (answer) answerLater(channel, answer);
          else if (opts.answerer.failure) channel.close();
        }
      });
      channel.stderr.on('data', (bytes: Buffer) => {
        result.stderr = keep(result.stderr, stderr.push(bytes)[1]);
      });
      channel.on('close', () => {
        opts.signal?.removeEventListener('abort', onAbort);
        result.code = exit.code;
        result.signal = exit.signal;
        result.stdout = keep(result.stdout, stdout.end());
        result.stderr = keep(result.stderr, stderr.end());
        if (opts.signal?.aborted) reject(new RunFailure(`The job was cancelled before the script started (${abortReason(opts.signal)})`));
        else if (result.code === null && result.signal === null && this.lostReason) reject(new RunFailure(`The connection to ${this.where} was lost: ${this.lostReason}`));
        else resolve(result);
      });
      if (opts.stdin !== undefined) channel.end(opts.stdin);
      else if (!opts.pty) channel.end();
    });
  }

  private outputLines(r: ExecResult): string[] {
    return [r.stdout, r.stderr].map((t) => t.trim()).filter((t) => t !== '');
  }

  // --- the steps -------------------------------------------------------------------------------

  private wrapperText(): string {
    const d = this.dir;
    const script = `${d}/script`;
    // The script reads /dev/null, never the terminal. su reads its password from stdin, so for su
    // the redirection is inside the command it runs as the target user.
    const command = !this.effectiveUser
      ? `${q(script)} < /dev/null`
      : this.run.effectiveUserMethod === 'su'
        ? effectiveUserPrefix('su', this.effectiveUser, script)
        : `${effectiveUserPrefix(this.run.effectiveUserMethod, this.effectiveUser, script)} < /dev/null`;
    // The outer stage is the session leader of the terminal sshd opened (started with exec), so
    // its PID is the process group of everything below it: the kill command signals that group.
    // unshare --kill-child makes the inner stage die with it even if it left the group.
    return [
      '#!/bin/sh',
      '# Remote execution wrapper written by the smart proxy for one run; removed by cleanup.',
      `dir=${q(d)}`,
      'if [ "${1-}" != inner ]; then',
      '  echo $$ > "$dir/pgid"',
      '  if unshare --fork --kill-child true >/dev/null 2>&1; then',
      '    exec unshare --fork --kill-child "$dir/script-wrapper" inner',
      '  fi',
      '  exec "$dir/script-wrapper" inner',
      'fi',
      'echo $$ > "$dir/pid"',
      `( ${command}; echo $? > "$dir/exit_code" ) | tee "$dir/output"`,
      'code=$(cat "$dir/exit_code" 2>/dev/null)',
      'case "$code" in ""|*[!0-9]*) exit 1 ;; esac',
      'exit "$code"',
      '',
    ].join('\n');
  }

  private async prepare(): Promise<void> {
    const d = this.dir;
    const base = this.run.remoteWorkingDir;
    const steps = [
      `mkdir -p -- ${q(base)}`,
      'umask 077',
      `mkdir -- ${q(d)}`,
      `cat > ${q(`${d}/script`)}`,
      `chmod 0500 ${q(`${d}/script`)}`,
      `printf %s ${q(this.wrapperText())} > ${q(`${d}/script-wrapper`)}`,
      `chmod 0500 ${q(`${d}/script-wrapper`)}`,
      `: > ${q(`${d}/output`)}`,
      `chmod 0600 ${q(`${d}/output`)}`,
      `printf '#!/bin/sh\\nexec true\\n' > ${q(`${d}/preflight`)}`,
      `chmod 0500 ${q(`${d}/preflight`)}`,
    ];
    if (this.effectiveUser) {
      const u = q(`u:${this.effectiveUser}:x`);
      const rx = q(`u:${this.effectiveUser}:rx`);
      steps.push(`setfacl -m ${u} -- ${q(d)}`, `setfacl -m ${rx} -- ${q(`${d}/script`)} ${q(`${d}/preflight`)}`);
    }
    const r = await this.exec(steps.join(' && '), { stdin: this.run.script.replaceAll('\r', ''), signal: this.run.signal });
    this.dirCreated = true; // even a partial failure may have created it: cleanup removes it
    if (r.code !== 0) {
      throw new RunFailure(`Failed to prepare the remote working directory ${d} (exit code: ${r.code ?? r.signal})`, this.outputLines(r));
    }
  }

  private async preflight(): Promise<void> {
    const preflightPath = `${this.dir}/preflight`;
    const plain = await this.exec(`exec ${q(preflightPath)}`, { signal: this.run.signal });
    if (plain.code !== 0) {
      throw new RunFailure(`Failed to execute script on remote machine, exit code: ${plain.code ?? plain.signal}.`, this.outputLines(plain));
    }
    if (!this.effectiveUser) return;
    const answerer = new PromptAnswerer(this.run.effectiveUserMethod, this.run.effectiveUserPassword);
    const switched = await this.exec(effectiveUserPrefix(this.run.effectiveUserMethod, this.effectiveUser, preflightPath), {
      pty: true,
      answerer,
      signal: this.run.signal,
    });
    if (answerer.failure) throw new RunFailure(`Failed to change to effective user ${this.effectiveUser}: ${answerer.failure}`, this.outputLines(switched));
    if (switched.code !== 0) {
      throw new RunFailure(`Failed to change to effective user, exit code: ${switched.code ?? switched.signal}`, this.outputLines(switched));
    }
  }

  private async runScript(): Promise<number | 'EXCEPTION'> {
    const { channel, exit } = await this.openChannel(`rm -f -- ${q(`${this.dir}/preflight`)}; exec ${q(`${this.dir}/script-wrapper`)}`, true);
    const stdout = new TextStream(this.secrets);
    const stderr = new TextStream(this.secrets);
    const answerer = this.effectiveUser ? new PromptAnswerer(this.run.effectiveUserMethod, this.run.effectiveUserPassword) : undefined;
    let stopping: Promise<void> | undefined;

    const relieve = (): void => {
      if (!this.out.congested) return;
      channel.pause();
      void this.out.drained().then(() => channel.resume());
    };
    const onAbort = (): void => {
      this.out.debug(`Stopping the job: ${abortReason(this.run.signal)}`);
      stopping = this.stopRemote(channel);
    };

    await new Promise<void>((resolve) => {
      channel.on('data', (bytes: Buffer) => {
        const [raw, text] = stdout.push(bytes);
        this.out.emit('stdout', text);
        if (answerer) {
          const answer = answerer.see(raw);
          if (answer) answerLater(channel, answer);
          else if (answerer.failure && !stopping) {
            this.out.debug(`Stopping the job: ${answerer.failure}`);
            stopping = this.stopRemote(channel);
          }
        }
        relieve();
      });
      channel.stderr.on('data', (bytes: Buffer) => {
        this.out.emit('stderr', stderr.push(bytes)[1]);
        relieve();
      });
      channel.on('close', () => {
        this.out.emit('stdout', stdout.end());
        this.out.emit('stderr', stderr.end());
        resolve();
      });
      if (this.run.signal.aborted) onAbort();
      else this.run.signal.addEventListener('abort', onAbort, { once: true });
    });
    this.run.signal.removeEventListener('abort', onAbort);
    if (stopping) await stopping;

    if (exit.code !== null) return exit.code;
    if (exit.signal !== null) return 128 + (SIGNAL_NUMBERS[exit.signal] ?? 0);
    throw new RunFailure(`The connection to ${this.where} was lost while the script ran: ${this.lostReason ?? 'no exit status received'}; the script may still be running`);
  }

  /**
   * TERM the script's process group on the host, wait up to killGraceMs for it to go, then KILL
   * whatever is left; all in one remote command, so it needs no polling from here.
   */
  private async stopRemote(channel: ClientChannel): Promise<void> {
    const pgidFile = q(`${this.dir}/pgid`);
    const graceSteps = Math.ceil(this.options.killGraceMs / 100);
    const command = [
      // the wrapper may not have written its group yet when the cancel comes early
      `i=0; while [ ! -s ${pgidFile} ]; do [ "$i" -ge 30 ] && exit 0; sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done`,
      `pg=$(cat ${pgidFile})`,
      'case "$pg" in ""|*[!0-9]*) exit 0 ;; esac',
      'kill -TERM -- "-$pg" 2>/dev/null || kill -TERM "$pg" 2>/dev/null',
      `i=0; while kill -0 -- "-$pg" 2>/dev/null; do if [ "$i" -ge ${graceSteps} ]; then kill -KILL -- "-$pg" 2>/dev/null; echo killed; exit 0; fi; sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done`,
    ].join('\n');
    try {
      const r = await this.exec(command);
      if (r.stdout.includes('killed')) this.out.debug(`The job did not stop within ${this.options.killGraceMs} ms of SIGTERM and was killed (SIGKILL)`);
    } catch (err) {
      this.out.debug(`Could not stop the job on ${this.where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    // Ends the terminal session too (hang-up for anything that escaped the group).
    channel.close();
  }

  private async cleanup(): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    try {
      if (this.run.cleanup && this.dirCreated && !this.lostReason) {
        const r = await this.exec(`rm -rf -- ${q(this.dir)}`);
        if (r.code !== 0) this.out.debug(`Could not remove the remote working directory ${this.dir} (exit code: ${r.code ?? r.signal}): ${this.outputLines(r).join(' ')}`);
      }
    } catch (err) {
      this.out.debug(`Could not remove the remote working directory ${this.dir}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      conn.end();
      this.connections.delete(conn);
      this.conn = undefined;
    }
  }
}
