// Pull-mode notification over MQTT (spec remote-execution.md §5.4, §5.5): one long-lived MQTT
// session (not a connection per publish), QoS 1, the TTL/resend/rate-limit dispatcher. Implemented
// in `pull/mqtt.ts` (the mqtt npm client) and `pull/dispatcher.ts`.

export interface MqttSettings {
  readonly broker: string;
  readonly port: number;
  /**
   * TLS with the proxy's client certificate: PEM *file paths* (foreman_ssl_*, falling back to
   * ssl_*). The script module resolves `mqtt_tls` (unset = TLS iff all three are configured).
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  /** Seconds (mqtt_ttl), resend interval (mqtt_resend_interval), rate limit (mqtt_rate_limit, undefined = unlimited). */
  readonly ttlSeconds: number;
  readonly resendIntervalSeconds: number;
  readonly rateLimit?: number;
}

/** The start or cancel message published to `yggdrasil/<host id>/data/in`. */
export interface YggMessage {
  readonly type: 'data';
  readonly message_id: string;
  readonly version: 1;
  readonly sent: string;
  readonly directive: 'foreman';
  readonly content: string;
  readonly metadata: Record<string, string>;
}

export interface Publisher {
  /** Publish with QoS 1; resolves once the broker acknowledged (PUBACK). */
  publish(hostId: string, message: YggMessage): Promise<void>;
  close(): Promise<void>;
}

/**
 * The dispatcher: jobs enter `pending`; a job is notified when the rate limit leaves room; a
 * notified job that is not fetched within 1–2 TTLs frees its slot and is notified again after the
 * resend interval; a fetched job holds its slot until its task stops.
 */
export interface NotificationDispatcher {
  /** A new (or resumed after a restart) job to notify. */
  add(jobUuid: string): void;
  /** The host fetched the job (GET /ssh/jobs/:uuid). */
  picked(jobUuid: string): void;
  /** The task stopped: forget the job, free its slot. */
  done(jobUuid: string): void;
  /**
   * Jobs whose hosts fetched them and which hold a slot here. With replicas, a host's exit update
   * may reach another replica: the owner checks these against the store now and then.
   */
  runningJobs(): string[];
  /** `pending` waits to be notified, `waitingResend` missed its pickup and waits for the resend. */
  stats(): { pending: number; hot: number; cold: number; running: number; waitingResend: number };
  close(): Promise<void>;
}
