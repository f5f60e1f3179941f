/** sha256 helpers; every digest in the project is lower-case hex. */
import { createHash } from "node:crypto";
import { canonicalBytes } from "../canonical/index.js";

/** Lower-case hex sha256 of bytes or a UTF-8 string. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** sha256 of the RFC 8785 canonical form of a JSON value. */
export function canonicalSha256(value: unknown): string {
  return sha256Hex(canonicalBytes(value));
}
