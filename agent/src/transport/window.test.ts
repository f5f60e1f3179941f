import { describe, expect, it } from "vitest";
import { BoundedQueue } from "./queue.js";
import { SendWindow } from "./window.js";

describe("SendWindow", () => {
  it("admits at most `size` unacked seqs and frees them on cumulative acks", () => {
    const w = new SendWindow(3);
    w.reset(10);
    expect(w).toMatchObject({ cursor: 10, inflight: 0, room: 3 });
    w.sent(11);
    w.sent(12);
    w.sent(13);
    expect(w).toMatchObject({ cursor: 13, inflight: 3, room: 0 });
    expect(() => w.sent(14)).toThrow(/full/);
    w.acked(12);
    expect(w).toMatchObject({ cursor: 13, inflight: 1, room: 2 });
    w.acked(13);
    expect(w).toMatchObject({ inflight: 0, room: 3 });
  });

  it("ignores an ack below what is in flight and refuses out-of-order sends", () => {
    const w = new SendWindow(4);
    w.reset(0);
    w.sent(1);
    w.sent(2);
    w.acked(0);
    expect(w.inflight).toBe(2);
    expect(() => w.sent(2)).toThrow(/seq order/);
  });

  it("moves the cursor past seqs the server already holds (ack beyond what was sent)", () => {
    const w = new SendWindow(4);
    w.reset(5);
    w.sent(6);
    w.acked(9);
    expect(w).toMatchObject({ cursor: 9, inflight: 0 });
  });

  it("starts over from the acked seq on a new connection", () => {
    const w = new SendWindow(2);
    w.reset(0);
    w.sent(1);
    w.sent(2);
    w.reset(1);
    expect(w).toMatchObject({ cursor: 1, inflight: 0, room: 2 });
  });

  it("rejects a window below 1", () => {
    expect(() => new SendWindow(0)).toThrow(RangeError);
    expect(() => new SendWindow(4, 0)).toThrow(RangeError);
  });

  it("bounds the bytes in flight, always admitting one frame, and frees them on acks", () => {
    const w = new SendWindow(10, 100);
    w.reset(0);
    expect(w.fits(500)).toBe(true);
    w.sent(1, 500);
    expect(w.fits(1)).toBe(false);
    expect(() => w.sent(2, 1)).toThrow(/full/);
    w.acked(1);
    expect(w).toMatchObject({ inflight: 0, inflightBytes: 0 });
    w.sent(2, 60);
    expect(w.fits(40)).toBe(true);
    expect(w.fits(41)).toBe(false);
    w.sent(3, 40);
    expect(w).toMatchObject({ inflight: 2, inflightBytes: 100, room: 8 });
    w.acked(2);
    expect(w.inflightBytes).toBe(40);
    w.reset(3);
    expect(w.inflightBytes).toBe(0);
  });
});

describe("BoundedQueue", () => {
  it("keeps the newest `capacity` items and counts the dropped ones", () => {
    const q = new BoundedQueue<number>(2);
    expect(q.push(1)).toBeUndefined();
    q.push(2);
    expect(q.push(3)).toBe(1);
    expect(q.dropped).toBe(1);
    expect(q.drain()).toEqual([2, 3]);
    expect(q.length).toBe(0);
    q.push(9);
    q.unshift([7, 8]);
    expect(q.drain()).toEqual([8, 9]);
    expect(q.dropped).toBe(2);
  });
});
