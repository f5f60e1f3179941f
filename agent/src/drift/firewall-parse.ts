/**
 * Reading a loaded firewall from `nft list ruleset` and `iptables -S` output
 * into the few facts the baseline asks about: which chains exist, whether
 * inbound traffic is denied by default, and which TCP ports are accepted.
 *
 * Port accounting is deliberately conservative for forbidden ports: a rule
 * that jumps to another chain counts as accepting, because a check that
 * misses an open telnet port is worse than one that asks a human to look.
 */

/** An inclusive TCP port range. */
export type PortRange = readonly [number, number];

/** The facts a firewall check compares with its expectations. */
export interface FirewallState {
  backend: "nftables" | "iptables";
  /** `family table chain` for nftables, chain names for iptables. */
  chains: string[];
  /** Policy of each inbound base chain, e.g. `inet filter input=drop`. */
  inputPolicies: string[];
  inputDrop: boolean;
  openTcpPorts: PortRange[];
}

const SERVICES: Record<string, number> = {
  ftp: 21,
  ssh: 22,
  telnet: 23,
  smtp: 25,
  domain: 53,
  http: 80,
  pop3: 110,
  ntp: 123,
  imap: 143,
  https: 443,
  microsoft_ds: 445,
  mysql: 3306,
  "ms-wbt-server": 3389,
  postgresql: 5432,
};

function portOf(token: string): number | null {
  const n = /^\d+$/.test(token) ? Number(token) : (SERVICES[token] ?? null);
  return n !== null && n >= 0 && n <= 65_535 ? n : null;
}

/** Parses `22`, `ssh`, `1000-2000` (nft) or `1000:2000` (iptables) into a range. */
function rangeOf(token: string): PortRange | null {
  const m = /^([a-z0-9_-]+?)[-:](\d+)$/.exec(token);
  if (m !== null && /^\d+$/.test(m[1] ?? "")) {
    const lo = portOf(m[1] ?? "");
    const hi = portOf(m[2] ?? "");
    return lo !== null && hi !== null && lo <= hi ? [lo, hi] : null;
  }
  const p = portOf(token);
  return p === null ? null : [p, p];
}

/** Parses a comma-separated port list, ignoring items it cannot read. */
function rangesOf(list: string): PortRange[] {
  return list
    .split(",")
    .map((s) => rangeOf(s.trim()))
    .filter((r): r is PortRange => r !== null);
}

/** True when some accepted range contains `port`. */
export function portOpen(state: FirewallState, port: number): boolean {
  return state.openTcpPorts.some(([lo, hi]) => lo <= port && port <= hi);
}

/** Formats accepted ranges for evidence (`22, 443, 8000-8100`). */
export function formatPorts(ranges: PortRange[]): string {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const text = sorted.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`));
  return [...new Set(text)].join(", ") || "none";
}

const NOT_INBOUND_HOOKS = new Set(["forward", "output", "prerouting", "postrouting", "egress"]);

interface NftChain {
  path: string;
  hook: string | null;
  policy: string | null;
  rules: string[];
}

/** Reads `nft list ruleset` output (any family, named sets resolved within their table). */
export function parseNftRuleset(text: string): FirewallState {
  const chains: NftChain[] = [];
  const sets = new Map<string, PortRange[]>();
  const stack: string[] = [];
  let table = "";
  let chain: NftChain | null = null;
  let setName: string | null = null;
  let elements: string | null = null;

  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (elements !== null) {
      elements += ` ${line}`;
      if (line.endsWith("}")) {
        if (setName !== null) sets.set(setName, rangesOf(elements.replace(/[{}]/g, "")));
        elements = null;
      }
      continue;
    }
    const tableM = /^table (\S+) (\S+) \{$/.exec(line);
    const chainM = /^chain (\S+) \{$/.exec(line);
    const setM = /^set (\S+) \{$/.exec(line);
    const elementsM = stack.at(-1) === "set" ? /^elements = (\{.*)$/.exec(line) : null;
    if (tableM !== null) {
      table = `${tableM[1]} ${tableM[2]}`;
      stack.push("table");
    } else if (chainM !== null) {
      chain = { path: `${table} ${chainM[1]}`, hook: null, policy: null, rules: [] };
      chains.push(chain);
      stack.push("chain");
    } else if (setM !== null) {
      setName = `${table} ${setM[1]}`;
      stack.push("set");
    } else if (line.endsWith("{")) {
      stack.push("other");
    } else if (line === "}") {
      const closed = stack.pop();
      if (closed === "chain") chain = null;
      if (closed === "set") setName = null;
    } else if (elementsM !== null) {
      elements = elementsM[1] ?? "";
      if (elements.endsWith("}")) {
        if (setName !== null) sets.set(setName, rangesOf(elements.replace(/[{}]/g, "")));
        elements = null;
      }
    } else if (stack.at(-1) === "chain" && chain !== null && line !== "") {
      const hook = /\btype \S+ hook (\S+) /.exec(line);
      if (hook !== null) {
        chain.hook = hook[1] ?? null;
        chain.policy = /\bpolicy (\w+);/.exec(line)?.[1] ?? null;
      } else chain.rules.push(line);
    }
  }

  const open: PortRange[] = [];
  for (const c of chains) {
    if (c.hook !== null && NOT_INBOUND_HOOKS.has(c.hook)) continue;
    const tableOf = c.path.split(" ").slice(0, 2).join(" ");
    for (const rule of c.rules) {
      if (!/\b(accept|jump|goto)\b/.test(rule) || /\b(drop|reject)\b/.test(rule)) continue;
      const dport = /\b(?:tcp|th) dport (\{[^}]*\}|@\S+|\S+)/.exec(rule);
      if (dport === null || (/\bth dport\b/.test(rule) && !/l4proto tcp\b/.test(rule))) continue;
      const expr = dport[1] ?? "";
      if (expr === "!=" || expr.startsWith("!")) continue;
      if (expr.startsWith("@")) open.push(...(sets.get(`${tableOf} ${expr.slice(1)}`) ?? []));
      else open.push(...rangesOf(expr.replace(/[{}]/g, "")));
    }
  }
  const inbound = chains.filter((c) => c.hook === "input");
  return {
    backend: "nftables",
    chains: chains.map((c) => c.path),
    inputPolicies: inbound.map((c) => `${c.path}=${c.policy ?? "accept"}`),
    inputDrop: inbound.some((c) => c.policy === "drop"),
    openTcpPorts: open,
  };
}

const NOT_ACCEPTING_TARGETS = new Set(["DROP", "REJECT", "LOG", "NFLOG", "RETURN", "AUDIT"]);
const NOT_INBOUND_CHAINS = new Set(["FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"]);

/** Reads `iptables -S` output (the filter table). */
export function parseIptablesS(text: string): FirewallState {
  const chains: string[] = [];
  let inputPolicy: string | null = null;
  const open: PortRange[] = [];
  for (const raw of text.split("\n")) {
    const words = raw.trim().split(/\s+/);
    const [flag, name] = words;
    if (name === undefined) continue;
    if (flag === "-P" || flag === "-N") {
      chains.push(name);
      if (flag === "-P" && name === "INPUT") inputPolicy = words[2] ?? null;
      continue;
    }
    if (flag !== "-A" || NOT_INBOUND_CHAINS.has(name)) continue;
    const arg = (opt: string): string | null => {
      const i = words.indexOf(opt);
      return i === -1 ? null : (words[i + 1] ?? null);
    };
    const target = arg("-j") ?? arg("-g");
    if (arg("-p") !== "tcp" || target === null || NOT_ACCEPTING_TARGETS.has(target)) continue;
    const negated = words.some((w, i) => w === "!" && /^--dports?$/.test(words[i + 1] ?? ""));
    const ports = arg("--dport") ?? arg("--dports");
    if (ports !== null && !negated) open.push(...rangesOf(ports));
  }
  return {
    backend: "iptables",
    chains,
    inputPolicies: inputPolicy === null ? [] : [`INPUT=${inputPolicy.toLowerCase()}`],
    inputDrop: inputPolicy === "DROP",
    openTcpPorts: open,
  };
}
