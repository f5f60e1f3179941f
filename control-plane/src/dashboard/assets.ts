/**
 * The dashboard's static files, read once at startup: tweetnacl's own browser
 * build from the installed package (no CDN), the client script and the
 * stylesheet. A missing tweetnacl build fails startup with `config_invalid`
 * rather than serving a bundle page that cannot verify.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { MspError } from "@msp/shared";
import { APP_JS } from "./client/app.js";
import { STYLE_CSS } from "./style.js";

export interface Asset {
  body: string;
  type: string;
  etag: string;
}

/** Asset file name -> content. */
export type Assets = ReadonlyMap<string, Asset>;

const asset = (body: string, type: string): Asset => ({
  body,
  type,
  etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
});

export function loadAssets(): Assets {
  let nacl: string;
  try {
    nacl = readFileSync(createRequire(import.meta.url).resolve("tweetnacl/nacl-fast.min.js"), "utf8");
  } catch (e) {
    throw new MspError("config_invalid", "tweetnacl's browser build (nacl-fast.min.js) is not installed", {
      cause: e,
    });
  }
  return new Map([
    ["nacl-fast.min.js", asset(nacl, "text/javascript; charset=utf-8")],
    ["app.js", asset(APP_JS, "text/javascript; charset=utf-8")],
    ["style.css", asset(STYLE_CSS, "text/css; charset=utf-8")],
  ]);
}
