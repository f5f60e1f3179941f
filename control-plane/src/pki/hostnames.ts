/**
 * Turns the host names an operator configures for the control plane's
 * listener into subjectAltName entries: IP literals become iPAddress (the TLS
 * client matches an IP host only against those, never against a dNSName) and
 * everything else must be an RFC 1123 host name, stored lower-case.
 */
import { isIPv4, isIPv6 } from "node:net";
import { Hostname, MspError } from "@msp/shared";
import type { GeneralName } from "./certificate.js";

/** More names than this in one server certificate is a configuration mistake, not a deployment. */
export const MAX_SERVER_HOSTNAMES = 100;

function ipv4Bytes(text: string): number[] {
  return text.split(".").map(Number);
}

/** The 16 bytes of an IPv6 literal that `isIPv6` accepted, with `::` and a dotted IPv4 tail expanded. */
export function ipv6Bytes(text: string): Buffer {
  let s = text;
  const lastColon = s.lastIndexOf(":");
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(last);
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const zeros = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...Array<string>(zeros).fill("0"), ...tail];
  if (all.length !== 8 || halves.length > 2) throw new MspError("invalid_input", `bad IPv6 address ${text}`);
  const out = Buffer.alloc(16);
  all.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

/** One configured name as a SAN entry; `invalid_input` for anything that is neither an IP nor a host name. */
export function generalNameOf(host: string): GeneralName {
  if (isIPv4(host)) return { ip: Buffer.from(ipv4Bytes(host)) };
  if (isIPv6(host)) {
    // A zone id (fe80::1%eth0) is local to one machine and cannot go into a certificate.
    if (host.includes("%")) throw new MspError("invalid_input", `IPv6 zone ids are not allowed: ${host}`);
    return { ip: ipv6Bytes(host) };
  }
  if (!Hostname.safeParse(host).success) {
    throw new MspError("invalid_input", `not a host name or IP address: ${JSON.stringify(host)}`);
  }
  return { dns: host.toLowerCase() };
}

/** All configured names as SAN entries; refuses an empty list, too many names and duplicates. */
export function generalNamesOf(hostnames: readonly string[]): GeneralName[] {
  if (!Array.isArray(hostnames) || hostnames.length === 0) {
    throw new MspError("invalid_input", "a server certificate needs at least one host name");
  }
  if (hostnames.length > MAX_SERVER_HOSTNAMES) {
    throw new MspError("invalid_input", `at most ${MAX_SERVER_HOSTNAMES} host names per certificate`);
  }
  const seen = new Set<string>();
  return hostnames.map((h) => {
    if (typeof h !== "string") throw new MspError("invalid_input", "host names must be strings");
    const name = generalNameOf(h);
    const key = "ip" in name ? `ip:${name.ip.toString("hex")}` : `dns:${"dns" in name ? name.dns : ""}`;
    if (seen.has(key)) throw new MspError("invalid_input", `duplicate host name ${h}`);
    seen.add(key);
    return name;
  });
}
