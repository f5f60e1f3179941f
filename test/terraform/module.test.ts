/**
 * The evidence-bucket Terraform module (issue 7). Two tiers:
 *
 * - always: a structural check of the HCL, block by block, for the settings
 *   the issue requires (COMPLIANCE Object Lock, versioning, SSE-KMS with a
 *   rotating dedicated key, TLS-only bucket policy, Glacier after 30 days,
 *   public access blocked, access logs to a separate bucket, an uploader that
 *   is allowed nothing destructive). Each requirement is also removed from a
 *   copy to show the check then fails.
 * - when the `terraform` binary is on PATH: `terraform fmt -check`; and when a
 *   local provider mirror holds hashicorp/aws, `terraform validate` of the
 *   module and the example, installed from that mirror only (no network).
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../terraform/", import.meta.url));
const MODULE = join(ROOT, "modules/evidence-bucket");
const MIRROR = "/opt/tf-plugins";

type Files = Record<"main" | "variables", string>;
const read = (): Files => ({
  main: readFileSync(join(MODULE, "main.tf"), "utf8"),
  variables: readFileSync(join(MODULE, "variables.tf"), "utf8"),
});

/** Drops `#` comments (the module has none inside strings) so a commented-out setting does not count. */
const uncomment = (src: string) =>
  src
    .split("\n")
    .map((l) => l.replace(/(^|\s)#.*$/, ""))
    .join("\n");

/** The body of the block opening at `open` (the index of its `{`), braces in strings included in balance. */
function bodyAt(src: string, open: number): string {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === "{") depth++;
    else if (src[i] === "}" && --depth === 0) return src.slice(open + 1, i);
  }
  throw new Error("unbalanced braces");
}

/** Bodies of the blocks whose header (the text before `{`) matches, e.g. `resource "aws_s3_bucket" "evidence"`. */
function blocks(src: string, header: string): string[] {
  const out: string[] = [];
  const re = new RegExp(
    `(^|\\n)\\s*${header.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\s+/g, "\\s+")}\\s*\\{`,
    "g",
  );
  for (const m of src.matchAll(re)) out.push(bodyAt(src, (m.index ?? 0) + m[0].length - 1));
  return out;
}
const block = (src: string, header: string) => blocks(src, header)[0] ?? null;

/** The body at depth 0 only: nested blocks removed, so an attribute is the block's own. */
function own(body: string): string {
  let depth = 0;
  let out = "";
  for (const ch of body) {
    if (ch === "{") depth++;
    if (depth === 0) out += ch;
    if (ch === "}") depth--;
  }
  return out;
}

/** The value text of an attribute of the block itself (`name = value`), or null. */
function attr(body: string | null, name: string): string | null {
  if (body === null) return null;
  const m = own(body).match(new RegExp(`(^|\\n)\\s*${name}\\s*=\\s*([^\\n]+)`));
  return m?.[2]?.trim() ?? null;
}

/** A list attribute's string items: `actions = ["a", "b"]` possibly over several lines. */
function list(body: string, name: string): string[] {
  const m = own(body).match(new RegExp(`(^|\\n)\\s*${name}\\s*=\\s*\\[([^\\]]*)\\]`));
  return [...(m?.[2] ?? "").matchAll(/"([^"]*)"/g)].map((x) => x[1] as string);
}

const variableDefault = (vars: string, name: string) => attr(block(vars, `variable "${name}"`), "default");
const res = (f: Files, type: string, name: string) => block(f.main, `resource "${type}" "${name}"`);
const doc = (f: Files, name: string) => block(f.main, `data "aws_iam_policy_document" "${name}"`);

/** Every requirement the module must meet; returns the ones it misses (empty when all are met). */
function problems(files: Files): string[] {
  const f: Files = { main: uncomment(files.main), variables: uncomment(files.variables) };
  const p: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) p.push(what);
  };
  const bucket = res(f, "aws_s3_bucket", "evidence");
  need(attr(bucket, "object_lock_enabled") === "true", "bucket: object_lock_enabled = true");

  const lock = res(f, "aws_s3_bucket_object_lock_configuration", "evidence");
  const retention = lock && block(block(lock, "rule") ?? "", "default_retention");
  need(attr(retention, "mode") === '"COMPLIANCE"', "object lock: default_retention mode COMPLIANCE");
  need(attr(retention, "days") === "var.retention_days", "object lock: days = var.retention_days");
  need(variableDefault(f.variables, "retention_days") === "2190", "retention_days default 2190 (6 years)");

  const versioning = res(f, "aws_s3_bucket_versioning", "evidence");
  need(
    attr(versioning && block(versioning, "versioning_configuration"), "status") === '"Enabled"',
    "versioning: Enabled",
  );

  const key = res(f, "aws_kms_key", "evidence");
  need(attr(key, "enable_key_rotation") === "true", "kms key: enable_key_rotation = true");
  const sse = res(f, "aws_s3_bucket_server_side_encryption_configuration", "evidence");
  const sseDefault = sse && block(block(sse, "rule") ?? "", "apply_server_side_encryption_by_default");
  need(attr(sseDefault, "sse_algorithm") === '"aws:kms"', "sse: aws:kms");
  need(attr(sseDefault, "kms_master_key_id") === "aws_kms_key.evidence.arn", "sse: the dedicated key");

  const policy = res(f, "aws_s3_bucket_policy", "evidence");
  need(
    attr(policy, "policy") === "data.aws_iam_policy_document.evidence_bucket.json",
    "bucket policy: evidence_bucket document attached",
  );
  const tlsDeny = blocks(doc(f, "evidence_bucket") ?? "", "statement").some(
    (s) =>
      attr(s, "effect") === '"Deny"' &&
      blocks(s, "condition").some(
        (c) =>
          attr(c, "test") === '"Bool"' &&
          attr(c, "variable") === '"aws:SecureTransport"' &&
          list(c, "values").join() === "false",
      ),
  );
  need(tlsDeny, "bucket policy: Deny when aws:SecureTransport is false");

  const lifecycle = res(f, "aws_s3_bucket_lifecycle_configuration", "evidence");
  const transition = lifecycle && block(block(lifecycle, "rule") ?? "", "transition");
  need(
    attr(transition, "days") === "var.archive_after_days",
    "lifecycle: transition after var.archive_after_days",
  );
  need(
    attr(transition, "storage_class") === "var.archive_storage_class",
    "lifecycle: transition to var.archive_storage_class",
  );
  need(variableDefault(f.variables, "archive_after_days") === "30", "archive_after_days default 30");
  need(
    /^"GLACIER/.test(variableDefault(f.variables, "archive_storage_class") ?? ""),
    "archive_storage_class default is a Glacier class",
  );

  for (const name of ["evidence", "logs"]) {
    const pab = res(f, "aws_s3_bucket_public_access_block", name);
    for (const a of [
      "block_public_acls",
      "block_public_policy",
      "ignore_public_acls",
      "restrict_public_buckets",
    ]) {
      need(attr(pab, a) === "true", `public access block ${name}: ${a} = true`);
    }
  }

  const logging = res(f, "aws_s3_bucket_logging", "evidence");
  need(attr(logging, "bucket") === "aws_s3_bucket.evidence.id", "access logging of the evidence bucket");
  need(
    attr(logging, "target_bucket") === "aws_s3_bucket.logs.id",
    "access logs go to the separate log bucket",
  );
  need(res(f, "aws_s3_bucket", "logs") !== null, "a separate log bucket");

  const statements = blocks(doc(f, "uploader") ?? "", "statement");
  const allowed = statements
    .filter((s) => attr(s, "effect") === '"Allow"')
    .flatMap((s) => list(s, "actions"));
  const denied = statements.filter((s) => attr(s, "effect") === '"Deny"').flatMap((s) => list(s, "actions"));
  need(
    [...allowed].sort().join() ===
      [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketVersioning",
        "s3:GetObject",
        "s3:GetObjectRetention",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:PutObjectRetention",
      ].join(),
    "uploader: allowed actions are exactly the uploader's calls",
  );
  need(
    !allowed.some((a) => /\*|Delete|Bypass|PutBucket|PutLifecycle|PutEncryption/.test(a)),
    "uploader: no wildcard, delete, bypass or bucket reconfiguration allowed",
  );
  for (const a of [
    "s3:Delete*",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutLifecycleConfiguration",
  ]) {
    need(denied.includes(a), `uploader: explicit Deny of ${a}`);
  }
  const kms = statements.find((s) => list(s, "actions").includes("kms:GenerateDataKey"));
  need(
    kms !== undefined && attr(kms, "resources") === "[aws_kms_key.evidence.arn]",
    "uploader: kms only on the evidence key",
  );
  return p;
}

const hasTerraform = spawnSync("terraform", ["version"], { stdio: "ignore" }).status === 0;
const hasMirror = existsSync(join(MIRROR, "registry.terraform.io/hashicorp/aws"));

describe("terraform/modules/evidence-bucket: structure", () => {
  it("meets every requirement of issue 7", () => {
    expect(problems(read())).toEqual([]);
  });

  it("fails when a required setting is removed or weakened", () => {
    const f = read();
    const mutations: [keyof Files, string | RegExp, string, string][] = [
      ["main", 'mode = "COMPLIANCE"', 'mode = "GOVERNANCE"', "default_retention mode COMPLIANCE"],
      ["main", "object_lock_enabled = true", "", "object_lock_enabled"],
      ["variables", /default {5}= 2190\n/, "default     = 1\n", "retention_days default 2190"],
      ["main", 'status = "Enabled"', 'status = "Suspended"', "versioning: Enabled"],
      ["main", "enable_key_rotation     = true", "enable_key_rotation = false", "enable_key_rotation"],
      ["main", 'sse_algorithm     = "aws:kms"', 'sse_algorithm = "AES256"', "sse: aws:kms"],
      ["main", 'variable = "aws:SecureTransport"', 'variable = "aws:UserAgent"', "aws:SecureTransport"],
      ["main", "storage_class = var.archive_storage_class", 'storage_class = "STANDARD_IA"', "transition to"],
      ["variables", '"GLACIER_IR"\n', '"STANDARD_IA"\n', "Glacier class"],
      [
        "main",
        "restrict_public_buckets = true",
        "restrict_public_buckets = false",
        "restrict_public_buckets",
      ],
      [
        "main",
        "target_bucket = aws_s3_bucket.logs.id",
        "target_bucket = aws_s3_bucket.evidence.id",
        "separate log",
      ],
      [
        "main",
        /("WriteLockedObjects"[^\]]*)"s3:PutObjectRetention"/,
        '$1"s3:DeleteObjectVersion"',
        "exactly",
      ],
      ["main", '"s3:BypassGovernanceRetention",\n', "", "Deny of s3:BypassGovernanceRetention"],
      ["main", "resources = [aws_kms_key.evidence.arn]", 'resources = ["*"]', "kms only on the evidence key"],
      ["main", 'mode = "COMPLIANCE"', '# mode = "COMPLIANCE"', "default_retention mode COMPLIANCE"],
    ];
    for (const [file, from, to, expected] of mutations) {
      const changed = f[file].replace(from, to);
      expect(changed, `mutation ${String(from)} applies`).not.toBe(f[file]);
      const found = problems({ ...f, [file]: changed });
      expect(found.join("\n"), `removing ${String(from)}`).toContain(expected);
    }
  });
});

describe("terraform/ with the terraform binary", () => {
  it.skipIf(!hasTerraform)("is formatted (terraform fmt -check -recursive)", () => {
    const run = spawnSync("terraform", ["fmt", "-check", "-recursive", ROOT], { encoding: "utf8" });
    expect(run.stdout, "files terraform fmt would change").toBe("");
    expect(run.status).toBe(0);
  });

  // The provider comes from a local filesystem mirror only: nothing is downloaded.
  it.skipIf(!hasTerraform || !hasMirror)(
    "validates the module and the example against the mirrored hashicorp/aws provider",
    () => {
      const work = mkdtempSync(join(tmpdir(), "msp-tf-"));
      try {
        const rc = join(work, "terraformrc");
        writeFileSync(rc, `provider_installation {\n  filesystem_mirror {\n    path = "${MIRROR}"\n  }\n}\n`);
        cpSync(ROOT, join(work, "terraform"), { recursive: true });
        const env = {
          ...process.env,
          TF_CLI_CONFIG_FILE: rc,
          TF_IN_AUTOMATION: "1",
          CHECKPOINT_DISABLE: "1",
        };
        for (const dir of ["modules/evidence-bucket", "examples/clinic-evidence"]) {
          const cwd = join(work, "terraform", dir);
          const init = spawnSync("terraform", ["init", "-backend=false", "-input=false", "-no-color"], {
            cwd,
            env,
            encoding: "utf8",
          });
          expect(init.status, `${dir} init: ${init.stderr}`).toBe(0);
          const validate = spawnSync("terraform", ["validate", "-no-color"], { cwd, env, encoding: "utf8" });
          expect(validate.status, `${dir} validate: ${validate.stdout}${validate.stderr}`).toBe(0);
          expect(validate.stdout).toContain("The configuration is valid");
        }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
