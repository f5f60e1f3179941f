/**
 * Firewall check: a ruleset is loaded, inbound traffic is denied by default,
 * the required chains exist, required ports are accepted and forbidden ones
 * are not. Reads `nft list ruleset`, or `iptables -S` where nftables is absent
 * or empty (legacy iptables hosts).
 */
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped } from "./context.js";
import { isMissing } from "./exec.js";
import {
  type FirewallState,
  formatPorts,
  parseIptablesS,
  parseNftRuleset,
  portOpen,
} from "./firewall-parse.js";

type Read = { state: FirewallState } | { outcome: CheckOutcome };

async function readNft(ctx: CheckContext, expected: string): Promise<Read | null> {
  const r = await ctx.exec.run("nft", ["list", "ruleset"]);
  if (isMissing(r)) return null;
  if (r.code !== 0) return { outcome: errored(expected, `nft list ruleset failed: ${firstLine(r)}`) };
  return { state: parseNftRuleset(r.stdout) };
}

async function readIptables(ctx: CheckContext, expected: string): Promise<Read | null> {
  const r = await ctx.exec.run("iptables", ["-S"]);
  if (isMissing(r)) return null;
  if (r.code !== 0) return { outcome: errored(expected, `iptables -S failed: ${firstLine(r)}`) };
  return { state: parseIptablesS(r.stdout) };
}

/** Picks the backend: nftables first; iptables when nft is absent, fails, or has nothing loaded. */
async function readFirewall(check: CheckOf<"firewall">, ctx: CheckContext, expected: string): Promise<Read> {
  if (check.backend === "iptables") {
    return (await readIptables(ctx, expected)) ?? { outcome: skipped(expected, "iptables is not installed") };
  }
  const nft = await readNft(ctx, expected);
  if (check.backend === "nftables") return nft ?? { outcome: skipped(expected, "nft is not installed") };
  if (nft !== null && "state" in nft && nft.state.chains.length > 0) return nft;
  const ipt = await readIptables(ctx, expected);
  if (ipt !== null && "state" in ipt) return ipt;
  if (nft !== null) return nft;
  return ipt ?? { outcome: skipped(expected, "neither nft nor iptables is installed") };
}

function describeExpected(check: CheckOf<"firewall">): string {
  const parts = ["a loaded ruleset"];
  if (check.require_input_drop) parts.push("inbound default policy drop");
  if (check.required_chains.length > 0) parts.push(`chains ${check.required_chains.join(", ")}`);
  if (check.required_tcp_ports.length > 0)
    parts.push(`tcp ports accepted: ${check.required_tcp_ports.join(", ")}`);
  if (check.forbidden_tcp_ports.length > 0)
    parts.push(`tcp ports not accepted: ${check.forbidden_tcp_ports.join(", ")}`);
  return parts.join("; ");
}

/** A required chain matches a full nftables path (`inet filter input`) or a bare chain name. */
function hasChain(state: FirewallState, wanted: string): boolean {
  return state.chains.some((c) => c === wanted || c.split(" ").at(-1) === wanted);
}

/** Runs the firewall check. */
export async function checkFirewall(check: CheckOf<"firewall">, ctx: CheckContext): Promise<CheckOutcome> {
  const expected = describeExpected(check);
  const read = await readFirewall(check, ctx, expected);
  if ("outcome" in read) return read.outcome;
  const { state } = read;
  const observed = [
    state.backend,
    `inbound policy: ${state.inputPolicies.join(", ") || "no input chain"}`,
    `chains: ${state.chains.length}`,
    `accepted tcp ports: ${formatPorts(state.openTcpPorts)}`,
  ].join("; ");
  const problems: string[] = [];
  if (state.chains.length === 0) problems.push(`no ${state.backend} ruleset is loaded`);
  if (check.require_input_drop && !state.inputDrop)
    problems.push("inbound traffic is not dropped by default");
  for (const c of check.required_chains) if (!hasChain(state, c)) problems.push(`chain ${c} is missing`);
  for (const p of check.required_tcp_ports)
    if (!portOpen(state, p)) problems.push(`tcp port ${p} is not accepted`);
  for (const p of check.forbidden_tcp_ports)
    if (portOpen(state, p)) problems.push(`forbidden tcp port ${p} is accepted`);
  return problems.length === 0 ? pass(observed, expected) : fail(observed, expected, problems);
}
