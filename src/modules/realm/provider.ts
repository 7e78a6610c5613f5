// What the realm routes need from a backend (spec realm.md). Failures are RealmError codes (404
// for a host missing on delete); any other error is answered 400 with its message.

export interface RealmHostRequest {
  hostname: string;
  /** Sent to the realm as `userclass=<value>` (automember rules); undefined = none. */
  userclass: string | undefined;
  /** `rebuild=true`: issue a new one-time password for an existing host. */
  rebuild: boolean;
}

export interface RealmProvider {
  /** Create, update or rebuild the host entry; the JSON object Foreman gets back. */
  create(realm: string, request: RealmHostRequest): Promise<unknown>;
  /** Delete the host entry; the JSON object Foreman gets back. */
  remove(realm: string, hostname: string): Promise<unknown>;
  close(): Promise<void>;
}
