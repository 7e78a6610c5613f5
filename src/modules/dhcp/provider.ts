// What the DHCP module needs from a backend (ISC dhcpd, Kea, …). Backend-neutral: addresses are
// dotted-quad strings, MACs lower-case colon-separated, option names are Foreman's (`hostname`,
// `nextServer`, `filename`, vendor keys such as `root_server_ip`). The module (api.ts) owns
// validation, the conflict check and HTTP shapes; a provider only stores and fetches.
//
// Errors: a provider throws a DhcpError (errors.ts) when the status matters (409 for a
// backend-detected conflict); any other Error becomes 400 with the error's message (the module's
// error policy), so messages must name their origin (`dhcp/kea: …`).

/** Subnet options reported by `GET /dhcp`, only the keys that are present, in this order. */
export interface SubnetOptions {
  routers?: string[];
  /** ISC reports a nested list (`[["example.com"]]`, spec QUIRK); other backends may use a string. */
  domain_name?: string | string[][];
  domain_name_servers?: string[];
  ntp_servers?: string[] | string[][];
  interface_mtu?: number;
  /** Dynamic range placed directly in the subnet: `[first, last]`. */
  range?: [string, string];
}

export interface DhcpSubnet {
  /** Network address, e.g. `192.168.122.0`. */
  network: string;
  /** Dotted netmask, e.g. `255.255.255.0`. */
  netmask: string;
  options: SubnetOptions;
}

/** Extra attributes of a record: Foreman's option names → string, list, or nested list. */
export type RecordOptions = Record<string, unknown>;

export interface Reservation {
  type: 'reservation';
  name: string;
  ip: string;
  /** lower-case, colon-separated (6 or 20 octets). */
  mac: string;
  /** false for reservations the proxy must not delete (ISC: hosts written in dhcpd.conf). */
  deleteable: boolean;
  /**
   * Every other attribute, in the order they should be shown: `hostname`, `hardware_type`,
   * `nextServer`, `filename`, vendor keys… The module prints `hostname` right after `deleteable`.
   */
  options: RecordOptions;
}

export interface Lease {
  type: 'lease';
  /** Usually `lease-<mac without separators>`; a backend may supply its own. */
  name: string;
  ip: string;
  mac: string;
  /** `YYYY-MM-DD HH:MM:SS UTC` or null. */
  starts: string | null;
  ends: string | null;
  /** `active`, `backup`, `abandoned`, … */
  state: string;
  /** Extras shown after `type` (ISC: cltt, next_state, hardware_type, uid, client_hostname…). */
  options: RecordOptions;
}

export type DhcpRecord = Reservation | Lease;

export interface SubnetRecords {
  reservations: Reservation[];
  leases: Lease[];
}

/** A reservation to create, already validated by the module. */
export interface NewReservation {
  name: string;
  ip: string;
  mac: string;
  /** `hostname` param, else `name`. */
  hostname: string;
  nextServer?: string;
  filename?: string;
  /** Vendor option keys without their vendor prefix (`root_server_ip`, …) → value. */
  vendorOptions?: Record<string, string>;
  /** The vendor prefix Foreman sent (`<SUNW.model>`), when vendorOptions is non-empty. */
  vendor?: string;
  /** Any other params Foreman sent (kept as record options). */
  extra?: Record<string, string>;
}

export interface UnusedIpQuery {
  /** Both or neither; already validated to lie inside the subnet and to be ordered. */
  from?: string;
  to?: string;
  mac?: string;
}

export interface DhcpProvider {
  /** Whether `<Vendor>option` params are accepted (ISC: true). */
  readonly supportsVendorOptions: boolean;

  /**
   * Longest time a create or delete may wait for the module's one write slot before it is
   * answered 503 (ISC: omapi_timeout, the request's own deadline). Default 50 s.
   */
  readonly writeQueueTimeoutMs?: number;

  /** All subnets, in the backend's order. */
  subnets(): Promise<DhcpSubnet[]>;

  /** Most specific subnet containing `address` (spec §2), or undefined. */
  findSubnet(address: string): Promise<DhcpSubnet | undefined>;

  /** All reservations and leases of the subnet. */
  subnetRecords(subnet: DhcpSubnet): Promise<SubnetRecords>;

  /** All reservations with that IP; if none, the lease for it; else []. */
  findByIp(subnet: DhcpSubnet, ip: string): Promise<DhcpRecord[]>;

  /** The reservation with that MAC, else the lease with that MAC, else undefined. */
  findByMac(subnet: DhcpSubnet, mac: string): Promise<DhcpRecord | undefined>;

  /**
   * Suggest a free address (spec §1.3). Providers without support throw DhcpError.unused_ip_unsupported.
   * `unused-ip.ts` has the shared search with the recently-suggested holds.
   */
  unusedIp(subnet: DhcpSubnet, query: UnusedIpQuery): Promise<string | null>;

  /**
   * Create a reservation. The module has already run the conflict check and serialises all
   * createReservation/deleteReservation calls of one provider (never two at once), so a backend
   * doing read-modify-write of its configuration needs no lock of its own. After it resolves, the
   * find* methods must show the new reservation (no waiting for a file watcher).
   */
  createReservation(subnet: DhcpSubnet, reservation: NewReservation): Promise<void>;

  /** Delete a reservation the module found through find*; it is deleteable. */
  deleteReservation(subnet: DhcpSubnet, reservation: Reservation): Promise<void>;

  /** Release connections, watchers and timers; the core awaits it at shutdown. */
  close?(): Promise<void>;
}
