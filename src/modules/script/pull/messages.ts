// The yggdrasil "data" messages of a pull job (spec remote-execution.md §5.4). The host agent
// (yggd with foreman_ygg_worker) fetches `content` as a URL, so `content` is the URL string, and
// the URLs are built from the proxy URL Foreman gave the task (its `proxy_url`), which is the
// address the host can reach.

import { randomUUID } from 'node:crypto';
import type { YggMessage } from './types.ts';

/** The topic a host's yggd subscribes to (its client id = certificate CN = host id). */
export function hostTopic(hostId: string): string {
  return `yggdrasil/${hostId}/data/in`;
}

/**
 * A host id usable as one MQTT topic level: not empty, no `/` (another level), no `+`/`#`
 * (wildcards are refused in publish topics) and no NUL. Returns the reason, or undefined.
 */
export function invalidHostId(hostId: string): string | undefined {
  if (hostId.length === 0) return 'is empty';
  if (/[/+#\0]/.test(hostId)) return `'${hostId}' contains one of / + # NUL, which cannot be part of an MQTT topic level`;
  return undefined;
}

/** `https://proxy:9090/ssh/jobs/<uuid>` plus an optional suffix; a trailing slash of proxyUrl is ignored. */
export function jobUrl(proxyUrl: string, jobUuid: string, suffix = ''): string {
  let base: URL;
  try {
    base = new URL(proxyUrl);
  } catch {
    throw new Error(`proxy_url '${proxyUrl}' is not an absolute URL`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new Error(`proxy_url '${proxyUrl}' must be an http or https URL`);
  }
  const path = base.pathname.replace(/\/+$/, '');
  return `${base.origin}${path}/ssh/jobs/${encodeURIComponent(jobUuid)}${suffix}`;
}

/** `2026-01-05T10:00:00+00:00`: second precision, explicit UTC offset (the reference's format). */
export function sentTimestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export interface StartMessageInput {
  readonly jobUuid: string;
  readonly proxyUrl: string;
  readonly effectiveUser?: string;
  /** Stored with the job so that resends (also after a restart) repeat the same message. */
  readonly messageId: string;
  readonly sent: Date;
}

export function buildStartMessage(input: StartMessageInput): YggMessage {
  const metadata: Record<string, string> = {
    event: 'start',
    job_uuid: input.jobUuid,
    return_url: jobUrl(input.proxyUrl, input.jobUuid, '/update'),
    version: 'v1',
  };
  if (input.effectiveUser !== undefined) metadata.effective_user = input.effectiveUser;
  return {
    type: 'data',
    message_id: input.messageId,
    version: 1,
    sent: sentTimestamp(input.sent),
    directive: 'foreman',
    content: jobUrl(input.proxyUrl, input.jobUuid),
    metadata,
  };
}

export interface CancelMessageInput {
  readonly jobUuid: string;
  readonly proxyUrl: string;
  /** Default: a new random UUID (each cancel is a new message). */
  readonly messageId?: string;
  readonly sent?: Date;
}

export function buildCancelMessage(input: CancelMessageInput): YggMessage {
  return {
    type: 'data',
    message_id: input.messageId ?? randomUUID(),
    version: 1,
    sent: sentTimestamp(input.sent ?? new Date()),
    directive: 'foreman',
    content: jobUrl(input.proxyUrl, input.jobUuid, '/cancel'),
    metadata: { event: 'cancel', job_uuid: input.jobUuid },
  };
}

/** The published payload: JSON text, keys in the order above. */
export function encodeMessage(message: YggMessage): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}
