/**
 * Child process of the concurrency test: opens the SAME database file as its
 * siblings, waits for "go" on stdin so all of them start together, calls
 * `consume` ATTEMPTS times for one clinic (a new host each time, so only the
 * clinic budget can refuse) and prints one JSON line with what it was told.
 */
import { createInterface } from "node:readline";
import { openDatabase } from "../db/index.js";
import { createRateLimiter } from "./rate-limit.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

const worker = Number(env("WORKER"));
const attempts = Number(env("ATTEMPTS"));
const nowMs = Number(env("NOW_MS"));
const db = openDatabase(env("GUARD_DB"));
// A fixed instant: every call falls in one window, so the clinic budget is the only limit in play.
const clock = { now: () => new Date(nowMs), sleep: async () => {} };
const limiter = createRateLimiter({
  db,
  clock,
  limits: { per_clinic_per_hour: Number(env("CLINIC_LIMIT")), global_per_hour: 100_000 },
});

const lines = createInterface({ input: process.stdin });
process.stdout.write("ready\n");
lines.once("line", () => {
  lines.close();
  // An open stdin pipe would keep this process alive after its report.
  process.stdin.destroy();
  const firstAt = performance.timeOrigin + performance.now();
  let admitted = 0;
  const refusals: string[] = [];
  for (let i = 0; i < attempts; i++) {
    const d = limiter.consume({
      clientId: "clinic-race",
      hostname: `w${worker}-h${i}`,
      runbookId: "RB-DISK-001",
    });
    if (d.allowed) admitted++;
    else refusals.push(d.limit);
  }
  const lastAt = performance.timeOrigin + performance.now();
  db.close();
  process.stdout.write(`${JSON.stringify({ worker, admitted, refusals, firstAt, lastAt })}\n`);
});
