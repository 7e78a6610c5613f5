// Database rows → records, shared by both stores. The column sets are the same; what differs is
// how a driver hands back JSON columns (node:sqlite: text; pg: already parsed jsonb) and script
// text (node:sqlite: text; pg: bytea, since PostgreSQL text cannot hold NUL), so each store passes
// its own decoders.

import type { AbortReason, CallbackDelivery, ExitStatus, PlanResult, PlanState, PullJob, TaskRecord } from '../types.ts';

export type Row = Record<string, unknown>;

export interface ColumnDecoders {
  /** A JSON column's value, or null for SQL NULL. */
  json(value: unknown): unknown;
  /** The pull job's script column as text. */
  text(value: unknown): string;
}

/** Integers come back as numbers (node:sqlite) or as strings (pg's bigint). */
export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

export function taskFromRow(r: Row, decode: ColumnDecoders): TaskRecord {
  return {
    id: r.id as string,
    kind: r.kind as TaskRecord['kind'],
    parentId: (r.parent_id as string | null) ?? null,
    operation: r.operation as string,
    actionClass: r.action_class as string,
    state: r.state as PlanState,
    result: r.result as PlanResult,
    input: decode.json(r.input) as Record<string, unknown>,
    sealedSecrets: (r.sealed_secrets as string | null) ?? null,
    callback: (decode.json(r.callback) as TaskRecord['callback']) ?? null,
    createdAt: num(r.created_at),
    startedAt: numOrNull(r.started_at),
    endedAt: numOrNull(r.ended_at),
    exitStatus: (decode.json(r.exit_status) as ExitStatus | null) ?? null,
    exitStatusTimestamp: numOrNull(r.exit_status_timestamp),
    outputExtra: (decode.json(r.output_extra) as Record<string, unknown> | null) ?? {},
    owner: (r.owner as string | null) ?? null,
    droppedOutputBytes: num(r.dropped_output_bytes),
    abortRequested: (r.abort_requested as AbortReason | null) ?? null,
  };
}

export function pullJobFromRow(r: Row, decode: ColumnDecoders): PullJob {
  return {
    uuid: r.uuid as string,
    taskId: r.task_id as string,
    hostname: r.hostname as string,
    effectiveUser: (r.effective_user as string | null) ?? null,
    script: decode.text(r.script),
    state: r.state as PullJob['state'],
    createdAt: num(r.created_at),
    messageId: r.message_id as string,
    notifiedAt: numOrNull(r.notified_at),
  };
}

export function callbackFromRow(r: Row): CallbackDelivery {
  return {
    taskId: r.task_id as string,
    attempts: num(r.attempts),
    nextAttemptAt: numOrNull(r.next_attempt_at),
    deliveredAt: numOrNull(r.delivered_at),
    lastError: (r.last_error as string | null) ?? null,
  };
}
