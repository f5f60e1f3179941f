import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GENESIS_HASH, seedOf, verifyChain } from "@msp/shared";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createRig, driftDraft, type OutboxRig } from "./fixtures.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./kill-child.fixture.ts", import.meta.url));
const SHARED_SRC = fileURLToPath(new URL("../../../shared/src/index.ts", import.meta.url));

let rig: OutboxRig;
beforeEach(() => {
  rig = createRig();
});
afterEach(() => rig.cleanup());

/** Runs the append loop in a child, SIGKILLs it `delayMs` after its first result, returns what it printed. */
async function runAndKill(delayMs: number, acks: boolean): Promise<{ seqs: number[]; acks: number[] }> {
  // Map @msp/shared to its source, as vitest does, so the child runs the same code as this test (not a stale dist/).
  const tsconfig = join(rig.dir, "tsconfig.child.json");
  writeFileSync(tsconfig, JSON.stringify({ compilerOptions: { paths: { "@msp/shared": [SHARED_SRC] } } }));
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      OUTBOX_DB: rig.dbPath,
      AGENT_SEED: seedOf(rig.agentKey).toString("hex"),
      CP_SEED: seedOf(rig.cpKey).toString("hex"),
      ACKS: acks ? "1" : "0",
      TSX_TSCONFIG_PATH: tsconfig,
    },
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  await new Promise<void>((resolve) => {
    child.stdout.on("data", (d: Buffer) => {
      if (out === "") setTimeout(() => child.kill("SIGKILL"), delayMs);
      out += d.toString();
    });
    child.on("exit", () => resolve());
  });
  expect(await exited, `child must die by SIGKILL, not on its own; stderr:\n${err}`).toBe("SIGKILL");
  // Only complete lines count: a line cut by the kill was never fully promised.
  const lines = out.split("\n").slice(0, -1);
  const numbers = (prefix: string) =>
    lines.filter((l) => l.startsWith(prefix)).map((l) => Number(l.slice(prefix.length)));
  return { seqs: numbers("seq "), acks: numbers("ack ") };
}

it("loses and reuses nothing when the appending process is SIGKILLed at random moments", async () => {
  const printed: number[] = [];
  for (const [round, acks] of [false, true, true].entries()) {
    const delayMs = 20 + Math.floor(Math.random() * 400);
    const run = await runAndKill(delayMs, acks);
    const where = `round ${round}, killed ${delayMs} ms after the first append`;
    expect(run.seqs.length, where).toBeGreaterThan(0);
    // Seqs continue across kills without reuse: each round starts right after the previous head.
    expect(run.seqs, where).toEqual(run.seqs.map((_, i) => (run.seqs[0] ?? 0) + i));
    if (printed.length > 0) expect(run.seqs[0], where).toBeGreaterThan(printed.at(-1) ?? 0);
    printed.push(...run.seqs);

    const outbox = rig.open();
    const head = outbox.head();
    const rows = outbox.pending(0, 1_000_000);
    const maxPrinted = run.seqs.at(-1) ?? 0;
    // At most one append (or ack) may have committed after its line was printed... or before the kill let it print.
    expect(head.last_seq, where).toBeGreaterThanOrEqual(maxPrinted);
    expect(head.last_seq, where).toBeLessThanOrEqual(maxPrinted + 1);
    expect(head.acked_seq, where).toBeGreaterThanOrEqual(Math.max(0, ...run.acks));
    const stored = rows.map((b) => b.seq);
    const expected = Array.from({ length: head.last_seq - head.acked_seq }, (_, i) => head.acked_seq + i + 1);
    expect(stored, where).toEqual(expected);
    for (const seq of printed) {
      if (seq > head.acked_seq) expect(stored, `${where}: printed seq ${seq} must be stored`).toContain(seq);
    }
    if (!acks && round === 0) {
      expect(head.acked_seq).toBe(0);
      expect(stored[0]).toBe(1);
    }
    const anchor =
      head.acked_seq === 0 ? { seq: 0, hash: GENESIS_HASH } : { seq: head.acked_seq, hash: head.acked_hash };
    const chain = verifyChain(rows, anchor);
    expect(chain.problems, where).toEqual([]);
    const integrity = outbox.verifyIntegrity();
    expect(integrity.ok, `${where}: ${JSON.stringify(integrity)}`).toBe(true);
    outbox.close();
  }

  const outbox = rig.open();
  const before = outbox.head();
  const next = await outbox.append(driftDraft());
  expect(next.seq).toBe(before.last_seq + 1);
  expect(next.prev_hash).toBe(before.last_hash);
});
