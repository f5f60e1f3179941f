/**
 * Send-window accounting for one connection. At most `size` bundles are in
 * flight (sent, not yet covered by an ack), so a reconnect never has more than
 * a window's worth of duplicates to resend and a slow control plane pushes
 * back on the agent instead of filling socket buffers.
 */

/** Which seqs are in flight and where the next `pending()` read starts. */
export class SendWindow {
  readonly size: number;
  #cursor = 0;
  #inflight: number[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`send window must be >= 1, got ${size}`);
    this.size = size;
  }

  /** Starts a connection: everything after the outbox's acked seq is unsent on it. */
  reset(ackedSeq: number): void {
    this.#cursor = ackedSeq;
    this.#inflight = [];
  }

  /** The highest seq sent (or acked) on this connection; the next read is `pending(cursor, room)`. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Bundles in flight. */
  get inflight(): number {
    return this.#inflight.length;
  }

  /** How many more bundles may be sent now. */
  get room(): number {
    return this.size - this.#inflight.length;
  }

  /** Records a sent bundle; seqs must increase, since the outbox streams in seq order. */
  sent(seq: number): void {
    if (seq <= this.#cursor) throw new RangeError(`seq ${seq} sent after ${this.#cursor}: not in seq order`);
    if (this.#inflight.length >= this.size) throw new RangeError("send window is full");
    this.#inflight.push(seq);
    this.#cursor = seq;
  }

  /**
   * Applies a cumulative ack: every seq up to `upTo` leaves the window. An ack
   * past the cursor (the server already held bundles we had not resent) moves
   * the cursor so they are not sent again.
   */
  acked(upTo: number): void {
    let drop = 0;
    while (drop < this.#inflight.length && (this.#inflight[drop] ?? Number.POSITIVE_INFINITY) <= upTo) drop++;
    if (drop > 0) this.#inflight.splice(0, drop);
    if (upTo > this.#cursor) this.#cursor = upTo;
  }
}
