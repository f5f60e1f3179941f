/**
 * A small bounded FIFO for incidents raised while the control plane is
 * unreachable. Incidents are prompts for remediation, not evidence (the
 * evidence is in the outbox), so past the bound the oldest is dropped and
 * counted rather than letting a long outage grow memory without limit.
 */

/** FIFO that keeps at most `capacity` items, dropping the oldest. */
export class BoundedQueue<T> {
  readonly capacity: number;
  #items: T[] = [];
  #dropped = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Adds an item; returns the item dropped to make room, if any. */
  push(item: T): T | undefined {
    this.#items.push(item);
    if (this.#items.length <= this.capacity) return undefined;
    this.#dropped++;
    return this.#items.shift();
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const all = this.#items;
    this.#items = [];
    return all;
  }

  /** Puts items back at the front (oldest first), e.g. when a send fails midway; still bounded. */
  unshift(items: readonly T[]): void {
    this.#items = [...items, ...this.#items];
    while (this.#items.length > this.capacity) {
      this.#items.shift();
      this.#dropped++;
    }
  }

  get length(): number {
    return this.#items.length;
  }

  /** Items dropped since creation. */
  get dropped(): number {
    return this.#dropped;
  }
}
