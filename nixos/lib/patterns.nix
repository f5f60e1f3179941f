# The value formats of the agent config, as POSIX regular expressions for
# builtins.match (which anchors at both ends). Each mirrors a zod schema in
# shared/src/protocol/{common,config}.ts so that a NixOS option that accepts a
# value never writes a config the agent then refuses at startup; the mirror is
# checked by test/nixos/agent-config.test.ts against the real schemas.
#
# Pure builtins only: this file is evaluated by the modules (through
# lib.types.strMatching) and by the tests without nixpkgs.
rec {
  # ClinicId / AgentId: lower-case slug, 2-63 characters.
  slug = "[a-z0-9][a-z0-9-]{1,62}";
  # Hostname: RFC 1123 labels separated by dots (length checked apart).
  hostname = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*";
  # control_plane.url: wss:// and no whitespace.
  wssUrl = "wss://[^[:space:]]+";
  # Absolute path. Stricter than the schema (which only wants a leading /):
  # a newline would also break the systemd unit lines the path lands in.
  absPath = "/[^\n]*";
  # Standard base64 of exactly 32 bytes, canonical (the unused low bits of
  # the last character are zero), like PublicKeyB64.
  publicKeyB64 = "[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=";
  # RunbookId, e.g. RB-BACKUP-001.
  runbookId = "RB-[A-Z]+-[0-9]{3}";
  # Keys of path_roots.
  pathRootName = "[a-z][a-z0-9_]{0,31}";
  # Entries of service_allowlist and process_allowlist.
  serviceName = "[A-Za-z0-9@._-]{1,128}";
  processName = "[A-Za-z0-9._-]{1,64}";

  # True when `s` is a string matching pattern `p` as a whole.
  matches = p: s: builtins.isString s && builtins.match p s != null;
  # Hostname also has a total length limit.
  isHostname = s: matches hostname s && builtins.stringLength s <= 253;
}
