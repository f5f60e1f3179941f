import { FakeClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import type { CheckOf } from "./context.js";
import { createExec, isMissing } from "./exec.js";
import { checkFirewall } from "./firewall.js";
import { parseNftRuleset } from "./firewall-parse.js";
import { contextFor, fixture, replayExec } from "./testkit.js";

const check: CheckOf<"firewall"> = {
  type: "firewall",
  id: "firewall",
  citation: ["164.312(e)(1)"],
  severity: "high",
  event_type: "firewall_drift",
  backend: "auto",
  require_input_drop: true,
  required_chains: ["input"],
  required_tcp_ports: [22, 443],
  forbidden_tcp_ports: [23, 3389],
};
const clock = new FakeClock();
const ctx = (exec: ReturnType<typeof replayExec>) => contextFor("/", exec, clock);
const debian = fixture("nft-list-ruleset.debian.txt");

describe("firewall check", () => {
  it("passes a Debian nftables ruleset with default drop, resolving named sets", async () => {
    const out = await checkFirewall(check, ctx(replayExec({ "nft list ruleset": { stdout: debian } })));
    expect(out.status).toBe("pass");
    expect(out.observed).toContain("inet filter input=drop");
    expect(out.observed).toContain("accepted tcp ports: 22, 443, 8443");
  });

  it("reads the NixOS nixos-fw ruleset, where ports are accepted in a jumped-to chain", async () => {
    const nixos = fixture("nft-list-ruleset.nixos.txt");
    const out = await checkFirewall(
      { ...check, required_chains: ["inet nixos-fw input", "input-allow"] },
      ctx(replayExec({ "nft list ruleset": { stdout: nixos } })),
    );
    expect(out).toMatchObject({ status: "pass" });
    // The prerouting rpfilter chain's policy is not the inbound policy.
    expect(parseNftRuleset(nixos).inputPolicies).toEqual(["inet nixos-fw input=drop"]);
  });

  it("fails on accept policy, a missing chain, a missing port and an opened forbidden port", async () => {
    const drifted = debian
      .replace("hook input priority filter; policy drop;", "hook input priority filter; policy accept;")
      .replace("tcp dport @clinic_https accept", "tcp dport { 23, 8443 } accept");
    const out = await checkFirewall(
      { ...check, required_chains: ["inet filter input", "ip nat prerouting"] },
      ctx(replayExec({ "nft list ruleset": { stdout: drifted } })),
    );
    expect(out.status).toBe("fail");
    expect(out.reason).toContain("inbound traffic is not dropped by default");
    expect(out.reason).toContain("chain ip nat prerouting is missing");
    expect(out.reason).toContain("tcp port 443 is not accepted");
    expect(out.reason).toContain("forbidden tcp port 23 is accepted");
  });

  it("falls back to iptables -S when nft is not installed", async () => {
    const exec = replayExec({ nft: "missing", "iptables -S": { stdout: fixture("iptables-S.txt") } });
    const out = await checkFirewall({ ...check, required_chains: ["INPUT", "f2b-sshd"] }, ctx(exec));
    expect(out.status).toBe("pass");
    expect(out.observed).toContain("iptables; inbound policy: INPUT=drop");
    expect(exec.calls).toEqual(["nft list ruleset", "iptables -S"]);
  });

  it("falls back to iptables when the nftables ruleset is empty, and fails an open legacy policy", async () => {
    const exec = replayExec({
      "nft list ruleset": { stdout: "" },
      "iptables -S": { stdout: "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n" },
    });
    const out = await checkFirewall(check, ctx(exec));
    expect(out.status).toBe("fail");
    expect(out.reason).toContain("inbound traffic is not dropped by default");
  });

  it("fails when nftables has nothing loaded and there is no iptables", async () => {
    const out = await checkFirewall(
      check,
      ctx(replayExec({ "nft list ruleset": { stdout: "" }, iptables: "missing" })),
    );
    expect(out).toMatchObject({ status: "fail" });
    expect(out.reason).toContain("no nftables ruleset is loaded");
  });

  it("is skipped, not passed, when neither tool exists (the real exec on this machine, or replayed)", async () => {
    const out = await checkFirewall(check, ctx(replayExec({ nft: "missing", iptables: "missing" })));
    expect(out).toMatchObject({ status: "skipped", reason: "neither nft nor iptables is installed" });
  });

  it("with the real exec, a host without nft and iptables yields skipped", async () => {
    const real = createExec();
    const absent =
      isMissing(await real.run("nft", ["--version"])) && isMissing(await real.run("iptables", ["-V"]));
    if (!absent) return; // A host with a firewall tool is covered by the recorded rulesets above.
    expect((await checkFirewall(check, contextFor("/", real, clock))).status).toBe("skipped");
  });

  it("reads multi-line set elements and port ranges", () => {
    const text =
      "table ip filter {\n\tset admin {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = { 22, 443,\n\t\t\t     5000-5010 }\n\t}\n\n\tchain INPUT {\n\t\ttype filter hook input priority filter; policy drop;\n\t\ttcp dport @admin accept\n\t}\n}\n";
    expect(parseNftRuleset(text).openTcpPorts).toEqual([
      [22, 22],
      [443, 443],
      [5000, 5010],
    ]);
  });

  it("reports a tool failure as an error with its message", async () => {
    const exec = replayExec({
      "nft list ruleset": { code: 1, stderr: "Error: Could not process rule: Operation not permitted\n" },
      iptables: "missing",
    });
    const out = await checkFirewall(check, ctx(exec));
    expect(out.status).toBe("error");
    expect(out.reason).toContain("Operation not permitted");
  });
});
