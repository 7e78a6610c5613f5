// A value read from a backend, shared by the requests that arrive while it is being read and for a
// short time after (so a create's three lookups cost one read), and dropped at once by a write.

export class ShortCache<T> {
  private entry: { value: Promise<T>; until: number } | undefined;
  private generation = 0;
  private readonly ttlMs: number;
  private readonly load: () => Promise<T>;

  constructor(ttlMs: number, load: () => Promise<T>) {
    this.ttlMs = ttlMs;
    this.load = load;
  }

  get(): Promise<T> {
    const now = Date.now();
    if (this.entry && this.entry.until > now) return this.entry.value;
    const generation = ++this.generation;
    const value = this.load();
    // Until it settles the entry serves everyone; afterwards for ttlMs; a failure is not kept.
    const entry = { value, until: Number.POSITIVE_INFINITY };
    this.entry = entry;
    value.then(
      () => {
        if (this.generation === generation && this.entry === entry) entry.until = Date.now() + this.ttlMs;
      },
      () => {
        if (this.entry === entry) this.entry = undefined;
      },
    );
    return value;
  }

  /** Forget the value (after a write, so the next read shows it). */
  invalidate(): void {
    this.entry = undefined;
    this.generation++;
  }
}
