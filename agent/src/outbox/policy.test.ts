import { type BundleKind, bundleHash, type EvidenceBundle, isMspError, verifyChain } from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import {
  createRig,
  driftDraft,
  type OutboxRig,
  type RunbookKind,
  runbookDraft,
  signedAck,
  TEST_IDENTITY,
} from "./fixtures.js";
import type { Outbox } from "./index.js";
import { ALERT_HEADROOM_BYTES, admit, type OutboxAlert } from "./policy.js";

const RUNBOOK_KINDS: RunbookKind[] = [
  "runbook_execution",
  "restore_test",
  "runbook_refusal",
  "runbook_interrupted",
];

describe("admit", () => {
  it.each<[BundleKind, number, number, string]>([
    ["drift_check", 900, 100, "store"],
    ["drift_check", 901, 100, "refuse"],
    ["runbook_execution", 5000, 100, "store_over_limit"],
    ["restore_test", 5000, 100, "store_over_limit"],
    ["runbook_refusal", 5000, 100, "store_over_limit"],
    ["runbook_interrupted", 5000, 100, "store_over_limit"],
    ["local_alert", 1000, ALERT_HEADROOM_BYTES, "store_over_limit"],
    ["local_alert", 1001, ALERT_HEADROOM_BYTES, "refuse"],
  ])("%s with %i stored + %i bytes under a 1000-byte bound: %s", (kind, stored, bytes, expected) => {
    expect(admit(kind, stored, bytes, 1000)).toBe(expected);
  });
});

describe("a full outbox", () => {
  let rig: OutboxRig;
  afterEach(() => rig.cleanup());

  const of = <K extends OutboxAlert["kind"]>(kind: K) =>
    rig.alerts.filter((a): a is Extract<OutboxAlert, { kind: K }> => a.kind === kind);

  /** Appends drift drafts until one is refused; returns the refusal. */
  async function fillWithDrift(outbox: Outbox): Promise<unknown> {
    for (let i = 0; i < 50; i++) {
      try {
        await outbox.append(driftDraft(500));
      } catch (e) {
        return e;
      }
    }
    throw new Error("the outbox never filled up");
  }

  const ackAll = (outbox: Outbox) => {
    const last = outbox.pending(0, 1000).at(-1) as EvidenceBundle;
    const receipt = {
      agent_id: TEST_IDENTITY.agent_id,
      client_id: TEST_IDENTITY.client_id,
      up_to_seq: last.seq,
      head_hash: bundleHash(last),
      stored_at: "2026-01-01T00:00:00.000Z",
    };
    return outbox.applyAck(signedAck(rig.cpKey, receipt));
  };

  it("refuses drift, alerts, emits one local_alert bundle per episode and always keeps runbook evidence", async () => {
    const maxBytes = 8000;
    rig = createRig(maxBytes);
    const outbox = rig.open();

    const refusal = await fillWithDrift(outbox);
    expect(isMspError(refusal, "unavailable") && refusal.retryable).toBe(true);
    expect(String((refusal as Error).message)).toMatch(/outbox is full/);
    const firstAlert = of("outbox_full")[0];
    expect(firstAlert).toMatchObject({ refused_kind: "drift_check", max_bytes: maxBytes });
    const stored = outbox.pending(0, 1000);
    const alertBundle = stored.at(-1);
    expect(alertBundle).toMatchObject({ kind: "local_alert", seq: firstAlert?.alert_bundle_seq });
    expect(alertBundle?.outputs.alert).toBe("outbox_full");
    expect(outbox.stats().full_since).not.toBeNull();
    expect(outbox.stats().bytes).toBeLessThanOrEqual(maxBytes + ALERT_HEADROOM_BYTES);

    // A second refusal in the same episode alerts again but emits no second bundle.
    await expect(outbox.append(driftDraft(500))).rejects.toSatisfy((e) => isMspError(e, "unavailable"));
    expect(of("outbox_full")).toHaveLength(2);
    expect(of("outbox_full")[1]?.alert_bundle_seq).toBeNull();
    expect(outbox.pending(0, 1000)).toHaveLength(stored.length);

    // Runbook evidence of every kind is stored past the bound, and each time the alert says so.
    for (const kind of RUNBOOK_KINDS) {
      const b = await outbox.append(runbookDraft(kind, 1500));
      expect(b.kind).toBe(kind);
    }
    expect(of("outbox_over_limit").map((a) => a.bundle_kind)).toEqual(RUNBOOK_KINDS);
    expect(of("outbox_over_limit")[0]?.message).toMatch(/past the outbox bound.*never refused/);
    expect(outbox.stats().bytes).toBeGreaterThan(maxBytes);
    const all = outbox.pending(0, 1000);
    expect(all.map((b) => b.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.filter((b) => b.kind === "local_alert")).toHaveLength(1);
    expect(verifyChain(all).ok).toBe(true);
    expect(outbox.verifyIntegrity().ok).toBe(true);

    // Acks end the episode; drift is accepted again and a new episode emits a new alert bundle.
    expect(ackAll(outbox).ok).toBe(true);
    expect(of("outbox_recovered")).toHaveLength(1);
    expect(outbox.stats().full_since).toBeNull();
    await outbox.append(driftDraft(500));
    await fillWithDrift(outbox);
    expect(of("outbox_full").at(-1)?.alert_bundle_seq).toEqual(expect.any(Number));
    expect(outbox.pending(0, 1000).filter((b) => b.kind === "local_alert")).toHaveLength(1);
  });

  it("starts an episode when runbook evidence overflows, and skips the alert bundle when even the headroom is used", async () => {
    rig = createRig(2000);
    const outbox = rig.open();
    const big = await outbox.append(runbookDraft("restore_test", 20_000));
    expect(big.seq).toBe(1);
    expect(of("outbox_over_limit")).toHaveLength(1);
    expect(outbox.stats().bytes).toBeGreaterThan(2000 + ALERT_HEADROOM_BYTES);
    await expect(outbox.append(driftDraft())).rejects.toSatisfy((e) => isMspError(e, "unavailable"));
    expect(of("outbox_full")[0]?.alert_bundle_seq).toBeNull();
    expect(outbox.pending(0, 10).map((b) => b.kind)).toEqual(["restore_test"]);
  });

  it("emits the alert bundle right after runbook evidence that crosses the bound", async () => {
    rig = createRig(3000);
    const outbox = rig.open();
    await outbox.append(runbookDraft("runbook_execution", 2500));
    expect(outbox.pending(0, 10).map((b) => b.kind)).toEqual(["runbook_execution", "local_alert"]);
  });

  it("keeps a committed bundle when the alert callback throws", async () => {
    rig = createRig(1000);
    const outbox = rig.open({
      onAlert: () => {
        throw new Error("log sink down");
      },
    });
    const b = await outbox.append(runbookDraft("runbook_execution", 2000));
    expect(outbox.pending(0, 10)[0]).toEqual(b);
  });
});
