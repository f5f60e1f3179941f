/**
 * Send-window accounting for one connection. At most `size` bundles, and at
 * most `maxBytes` of frames (but always at least one bundle), are in flight
 * (sent, not yet covered by an ack), so a reconnect never has more than a
 * window's worth of duplicates to resend and a slow control plane pushes back
 * on the agent instead of filling socket buffers. The byte bound matters when
 * the backlog holds large runbook bundles: 256 of them could otherwise be
 * hundreds of megabytes queued in the socket.
 */

/** Which seqs are in flight and where the next `pending()` read starts. */
export class SendWindow {
  readonly size: number;
  readonly maxBytes: number;
  #cursor = 0;
  #inflight: { seq: number; bytes: number }[] = [];
  #bytes = 0;

  constructor(size: number, maxBytes: number = Number.POSITIVE_INFINITY) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`send window must be >= 1, got ${size}`);
    if (!(maxBytes >= 1)) throw new RangeError(`send window bytes must be >= 1, got ${maxBytes}`);
    this.size = size;
    this.maxBytes = maxBytes;
  }

  /** Starts a connection: everything after the outbox's acked seq is unsent on it. */
  reset(ackedSeq: number): void {
    this.#cursor = ackedSeq;
    this.#inflight = [];
    this.#bytes = 0;
  }

  /** The highest seq sent (or acked) on this connection; the next read is `pending(cursor, room)`. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Bundles in flight. */
  get inflight(): number {
    return this.#inflight.length;
  }

  /** Frame bytes in flight. */
  get inflightBytes(): number {
    return this.#bytes;
  }

  /** How many more bundles may be sent now (by count; {@link fits} checks bytes). */
  get room(): number {
    return this.size - this.#inflight.length;
  }

  /** True if a frame of `bytes` may be sent now: there is room by count, and by bytes unless nothing is in flight. */
  fits(bytes: number): boolean {
    return this.room > 0 && (this.#inflight.length === 0 || this.#bytes + bytes <= this.maxBytes);
  }

  /** Records a sent bundle; seqs must increase, since the outbox streams in seq order. */
  sent(seq: number, bytes = 0): void {
    if (seq <= this.#cursor) throw new RangeError(`seq ${seq} sent after ${this.#cursor}: not in seq order`);
    if (!this.fits(bytes)) throw new RangeError("send window is full");
    this.#inflight.push({ seq, bytes });
    this.#bytes += bytes;
    this.#cursor = seq;
  }

  /**
   * Applies a cumulative ack: every seq up to `upTo` leaves the window. An ack
   * past the cursor (the server already held bundles we had not resent) moves
   * the cursor so they are not sent again.
   */
  acked(upTo: number): void {
    let drop = 0;
    while (drop < this.#inflight.length && (this.#inflight[drop]?.seq ?? Number.POSITIVE_INFINITY) <= upTo) {
      this.#bytes -= this.#inflight[drop]?.bytes ?? 0;
      drop++;
    }
    if (drop > 0) this.#inflight.splice(0, drop);
    if (upTo > this.#cursor) this.#cursor = upTo;
  }
}
