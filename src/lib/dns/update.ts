// Building DNS UPDATE messages (RFC 2136). The zone section names the zone; prerequisites and
// updates are plain resource records whose CLASS/TTL/RDATA encode their meaning (§2.4, §2.5):
//
//   prerequisite              class  type   rdata      update              class  type   rdata
//   RRset exists (any value)  ANY    T      empty      add RR              IN     T      data
//   RRset exists (values)     IN     T      data       delete RRset        ANY    T      empty
//   RRset does not exist      NONE   T      empty      delete all at name  ANY    ANY    empty
//   name is in use            ANY    ANY    empty      delete one RR       NONE   T      data
//   name is not in use        NONE   ANY    empty

import { CLASS, OPCODE, TYPE, emptyMessage, type Message, type ResourceRecord } from './message.ts';

const EMPTY = new Uint8Array(0);

export type Prerequisite =
  | { kind: 'rrsetExists'; name: string; type: number }
  | { kind: 'rrsetExistsWithValues'; name: string; type: number; data: Uint8Array[] }
  | { kind: 'rrsetAbsent'; name: string; type: number }
  | { kind: 'nameInUse'; name: string }
  | { kind: 'nameNotInUse'; name: string };

export type UpdateOp =
  | { kind: 'add'; name: string; type: number; ttl: number; data: Uint8Array }
  | { kind: 'deleteRRset'; name: string; type: number }
  | { kind: 'deleteName'; name: string }
  | { kind: 'deleteRecord'; name: string; type: number; data: Uint8Array };

export function prerequisiteRecords(p: Prerequisite): ResourceRecord[] {
  switch (p.kind) {
    case 'rrsetExists':
      return [{ name: p.name, type: p.type, class: CLASS.ANY, ttl: 0, data: EMPTY }];
    case 'rrsetExistsWithValues':
      return p.data.map((data) => ({ name: p.name, type: p.type, class: CLASS.IN, ttl: 0, data }));
    case 'rrsetAbsent':
      return [{ name: p.name, type: p.type, class: CLASS.NONE, ttl: 0, data: EMPTY }];
    case 'nameInUse':
      return [{ name: p.name, type: TYPE.ANY, class: CLASS.ANY, ttl: 0, data: EMPTY }];
    case 'nameNotInUse':
      return [{ name: p.name, type: TYPE.ANY, class: CLASS.NONE, ttl: 0, data: EMPTY }];
  }
}

export function updateRecord(u: UpdateOp): ResourceRecord {
  switch (u.kind) {
    case 'add':
      return { name: u.name, type: u.type, class: CLASS.IN, ttl: u.ttl, data: u.data };
    case 'deleteRRset':
      return { name: u.name, type: u.type, class: CLASS.ANY, ttl: 0, data: EMPTY };
    case 'deleteName':
      return { name: u.name, type: TYPE.ANY, class: CLASS.ANY, ttl: 0, data: EMPTY };
    case 'deleteRecord':
      return { name: u.name, type: u.type, class: CLASS.NONE, ttl: 0, data: u.data };
  }
}

export function buildUpdate(
  id: number,
  zone: string,
  prerequisites: readonly Prerequisite[],
  updates: readonly UpdateOp[],
): Message {
  const m = emptyMessage(id, OPCODE.UPDATE);
  m.questions.push({ name: zone, type: TYPE.SOA, class: CLASS.IN });
  for (const p of prerequisites) m.answers.push(...prerequisiteRecords(p));
  for (const u of updates) m.authorities.push(updateRecord(u));
  return m;
}

export function buildQuery(id: number, name: string, type: number, recursionDesired = false): Message {
  const m = emptyMessage(id, OPCODE.QUERY);
  m.rd = recursionDesired;
  m.questions.push({ name, type, class: CLASS.IN });
  return m;
}
