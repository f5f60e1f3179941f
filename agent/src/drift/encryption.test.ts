import { FakeClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import type { CheckOf } from "./context.js";
import { checkDiskEncryption, findMount, parseLsblk } from "./encryption.js";
import { createExec } from "./exec.js";
import { contextFor, fixture, replayExec } from "./testkit.js";

const check: CheckOf<"disk_encryption"> = {
  type: "disk_encryption",
  id: "luks",
  citation: ["164.312(a)(2)(iv)", "164.310(d)(1)"],
  severity: "critical",
  event_type: "encryption_drift",
  mountpoints: ["/"],
  require_luks2: true,
};
const clock = new FakeClock();
const layout = fixture("lsblk-J.luks-lvm.json");
const luks2 = fixture("cryptsetup-luksDump.luks2.txt");

describe("disk encryption check", () => {
  it("runs the real lsblk here: a mountpoint with no block device fails, / is evaluated (not error)", async () => {
    const ctx = contextFor("/", createExec(), clock);
    const missing = await checkDiskEncryption({ ...check, mountpoints: ["/msp-not-mounted"] }, ctx);
    expect(missing).toMatchObject({
      status: "fail",
      reason: "/msp-not-mounted is not mounted from a block device",
    });
    const real = await checkDiskEncryption({ ...check, require_luks2: false }, ctx);
    expect(["pass", "fail"]).toContain(real.status);
    // Whatever this machine's layout, / is never reported encrypted without a crypt device above it.
    const chain = findMount(
      parseLsblk(
        ((await ctx.exec.run("lsblk", ["-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT"])) as { stdout: string })
          .stdout,
      ),
      "/",
    );
    const encrypted = chain !== null && [chain.node, ...chain.ancestors].some((d) => d.type === "crypt");
    expect(real.status).toBe(encrypted ? "pass" : "fail");
  });

  it("passes / on LUKS2 under LVM, walking up from the logical volume", async () => {
    const exec = replayExec({
      lsblk: { stdout: layout },
      "cryptsetup luksDump /dev/nvme0n1p3": { stdout: luks2 },
    });
    const out = await checkDiskEncryption(check, contextFor("/", exec, clock));
    expect(out.status).toBe("pass");
    expect(out.observed).toBe(
      "/: clinic--vg-root(lvm,ext4) <- nvme0n1p3_crypt(crypt,LVM2_member) <- nvme0n1p3(part,crypto_LUKS) <- nvme0n1(disk); LUKS2 aes-xts-plain64",
    );
  });

  it("fails an unencrypted backup disk and a LUKS1 header", async () => {
    const exec = replayExec({
      lsblk: { stdout: layout },
      "cryptsetup luksDump /dev/nvme0n1p3": { stdout: fixture("cryptsetup-luksDump.luks1.txt") },
    });
    const out = await checkDiskEncryption(
      { ...check, mountpoints: ["/", "/srv/backup"] },
      contextFor("/", exec, clock),
    );
    expect(out.status).toBe("fail");
    expect(out.reason).toBe("/ uses a LUKS1 header; /srv/backup is not encrypted");
  });

  it("is skipped when LUKS2 is required but cryptsetup is missing; passes without that requirement", async () => {
    const exec = replayExec({ lsblk: { stdout: layout }, cryptsetup: "missing" });
    const out = await checkDiskEncryption(check, contextFor("/", exec, clock));
    expect(out.status).toBe("skipped");
    expect(out.reason).toContain("cryptsetup is not installed");
    expect(
      (await checkDiskEncryption({ ...check, require_luks2: false }, contextFor("/", exec, clock))).status,
    ).toBe("pass");
  });

  it("is skipped when lsblk is missing", async () => {
    const out = await checkDiskEncryption(check, contextFor("/", replayExec({ lsblk: "missing" }), clock));
    expect(out).toMatchObject({ status: "skipped", reason: "lsblk is not installed" });
  });
});
