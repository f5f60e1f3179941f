/**
 * Disk encryption check (164.312(a)(2)(iv), 164.310(d)(1)): every configured
 * mountpoint sits on a dm-crypt device, found by walking the `lsblk -J` tree
 * from the mounted node up to its parents. Optionally the LUKS header must be
 * version 2 (`cryptsetup luksDump`), which NixOS and current Debian create.
 */
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped } from "./context.js";
import { isMissing } from "./exec.js";

/** One `lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINT` node. */
export interface BlockDevice {
  name: string;
  type: string;
  fstype: string | null;
  mountpoint: string | null;
  children?: BlockDevice[];
}

/** Where a mountpoint lives: the mounted node and its parents, nearest first. */
export interface MountChain {
  node: BlockDevice;
  ancestors: BlockDevice[];
}

/** Parses lsblk JSON; throws on output that is not lsblk's shape. */
export function parseLsblk(text: string): BlockDevice[] {
  const doc = JSON.parse(text) as { blockdevices?: unknown };
  if (!Array.isArray(doc.blockdevices)) throw new Error("lsblk output has no blockdevices array");
  return doc.blockdevices as BlockDevice[];
}

/** Finds the device mounted at `mountpoint`, with its parent chain. */
export function findMount(devices: BlockDevice[], mountpoint: string): MountChain | null {
  const walk = (nodes: BlockDevice[], parents: BlockDevice[]): MountChain | null => {
    for (const node of nodes) {
      if (node.mountpoint === mountpoint) return { node, ancestors: parents };
      const found = walk(node.children ?? [], [node, ...parents]);
      if (found !== null) return found;
    }
    return null;
  };
  return walk(devices, []);
}

/** Reads the header version and data cipher from `cryptsetup luksDump`. */
export function parseLuksDump(text: string): { version: number; cipher: string | null } | null {
  const version = /^Version:\s*(\d+)/m.exec(text);
  if (version === null) return null;
  const cipher = /^\s*cipher:\s*(\S+)/m.exec(text) ?? /^Cipher name:\s*(\S+)/m.exec(text);
  return { version: Number(version[1]), cipher: cipher?.[1] ?? null };
}

/** Runs the disk encryption check. */
export async function checkDiskEncryption(
  check: CheckOf<"disk_encryption">,
  ctx: CheckContext,
): Promise<CheckOutcome> {
  const expected = `${check.mountpoints.join(", ")} on dm-crypt (LUKS${check.require_luks2 ? "2" : ""})`;
  const r = await ctx.exec.run("lsblk", ["-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT"]);
  if (isMissing(r)) return skipped(expected, "lsblk is not installed");
  if (r.code !== 0) return errored(expected, `lsblk failed: ${firstLine(r)}`);
  let devices: BlockDevice[];
  try {
    devices = parseLsblk(r.stdout);
  } catch (e) {
    return errored(expected, `cannot parse lsblk output: ${(e as Error).message}`);
  }

  const observed: string[] = [];
  const problems: string[] = [];
  const skips: string[] = [];
  for (const mp of check.mountpoints) {
    const chain = findMount(devices, mp);
    if (chain === null) {
      observed.push(`${mp}: no block device mounted`);
      problems.push(`${mp} is not mounted from a block device`);
      continue;
    }
    const path = [chain.node, ...chain.ancestors];
    const crypt = path.find((d) => d.type === "crypt");
    const luks = path.find((d) => d.fstype === "crypto_LUKS");
    const layout = path.map((d) => `${d.name}(${d.type}${d.fstype ? `,${d.fstype}` : ""})`).join(" <- ");
    if (crypt === undefined) {
      observed.push(`${mp}: ${layout}`);
      problems.push(`${mp} is not encrypted`);
      continue;
    }
    if (!check.require_luks2) {
      observed.push(`${mp}: ${layout}`);
      continue;
    }
    if (luks === undefined) {
      observed.push(`${mp}: ${layout}`);
      problems.push(`${mp} is dm-crypt without a LUKS header`);
      continue;
    }
    const dump = await ctx.exec.run("cryptsetup", ["luksDump", `/dev/${luks.name}`]);
    if (isMissing(dump)) {
      observed.push(`${mp}: ${layout}; LUKS version unknown`);
      skips.push(`cryptsetup is not installed, cannot verify the LUKS2 header of /dev/${luks.name}`);
      continue;
    }
    const header = dump.code === 0 ? parseLuksDump(dump.stdout) : null;
    if (header === null) {
      return errored(
        expected,
        `cryptsetup luksDump /dev/${luks.name} failed: ${firstLine(dump)}`,
        observed.join("; "),
      );
    }
    observed.push(`${mp}: ${layout}; LUKS${header.version}${header.cipher ? ` ${header.cipher}` : ""}`);
    if (header.version < 2) problems.push(`${mp} uses a LUKS${header.version} header`);
  }
  const seen = observed.join("; ");
  if (problems.length > 0) return fail(seen, expected, [...problems, ...skips]);
  if (skips.length > 0) return { ...skipped(expected, skips.join("; ")), observed: seen };
  return pass(seen, expected);
}
