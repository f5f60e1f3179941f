# Turns the values of the services.msp.agent options into the agent config
# document (AgentConfig in shared/src/protocol/config.ts): exactly the keys
# the schema knows, snake_case, optional keys left out when unset. `problems`
# lists every value the agent would refuse, in the schema's own terms, so the
# module can stop a rebuild with a clear message instead of shipping a host
# whose agent exits at startup.
#
# Pure builtins only, so test/nixos/agent-config.test.ts can evaluate it with
# nix-instantiate and parse the output with the real zod schema.
let
  p = import ./patterns.nix;
  inherit (builtins) attrNames concatLists filter isInt isList isString length map;
  optionalAttrs = cond: attrs: if cond then attrs else { };
  # One message per value that fails `ok`, named by its option path.
  check = name: ok: value: if ok value then [ ] else [ "${name}: ${builtins.toJSON value} ${why name}" ];
  why =
    name:
    {
      agentId = "must be a lower-case slug (a-z, 0-9, -), 2-63 chars";
      clientId = "must be a lower-case slug (a-z, 0-9, -), 2-63 chars";
      hostname = "must be a valid host name";
      "controlPlane.url" = "must be a wss:// URL";
      "controlPlane.publicKey" = "must be the base64 of a 32-byte ed25519 public key";
      checkIntervalSeconds = "must be an integer from 10 to 86400";
      "outbox.maxBytes" = "must be an integer of at least 1048576";
      "outbox.sendWindow" = "must be an integer from 1 to 10000";
      offlineAutonomy = "must be runbook ids like RB-NAME-001";
      offlineCooldownSeconds = "must be an integer of at least 60";
      pathRoots = "must map names like backup_targets to non-empty lists of absolute paths";
      serviceAllowlist = "must be unit or program names ([A-Za-z0-9@._-], 1-128 chars)";
      processAllowlist = "must be process names ([A-Za-z0-9._-], 1-64 chars)";
      serviceManager = "must be systemd or supervisor";
      logLevel = "must be debug, info, warn or error";
    }
    .${name} or "must be an absolute path";
  intIn = lo: hi: v: isInt v && v >= lo && v <= hi;
  all = ok: v: isList v && builtins.all ok v;
  absPath = p.matches p.absPath;
  pathRootsOk =
    roots:
    builtins.isAttrs roots
    && builtins.all (n: p.matches p.pathRootName n && isList roots.${n} && roots.${n} != [ ] && all absPath roots.${n}) (
      attrNames roots
    );
in
{
  # The config document for the given option values.
  toConfig =
    cfg:
    {
      version = 1;
      agent_id = cfg.agentId;
      client_id = cfg.clientId;
    }
    // optionalAttrs (cfg.hostname != null) { hostname = cfg.hostname; }
    // {
      control_plane = {
        url = cfg.controlPlane.url;
        ca_file = cfg.controlPlane.caFile;
        cert_file = cfg.controlPlane.certFile;
        key_file = cfg.controlPlane.keyFile;
        public_key = cfg.controlPlane.publicKey;
      };
      evidence_key_file = cfg.evidenceKeyFile;
      state_dir = cfg.stateDir;
      baseline_file = cfg.baselineFile;
    }
    // optionalAttrs (cfg.runbooksDir != null) { runbooks_dir = cfg.runbooksDir; }
    // {
      check_interval_seconds = cfg.checkIntervalSeconds;
      outbox = {
        max_bytes = cfg.outbox.maxBytes;
        send_window = cfg.outbox.sendWindow;
      };
      offline_autonomy = cfg.offlineAutonomy;
      offline_cooldown_seconds = cfg.offlineCooldownSeconds;
      path_roots = cfg.pathRoots;
      service_allowlist = cfg.serviceAllowlist;
      process_allowlist = cfg.processAllowlist;
      service_manager = cfg.serviceManager;
      log_level = cfg.logLevel;
    };

  # Every value the agent's schema would refuse, as "option: value why" lines.
  problems =
    cfg:
    concatLists [
      (check "agentId" (p.matches p.slug) cfg.agentId)
      (check "clientId" (p.matches p.slug) cfg.clientId)
      (if cfg.hostname == null then [ ] else check "hostname" p.isHostname cfg.hostname)
      (check "controlPlane.url" (p.matches p.wssUrl) cfg.controlPlane.url)
      (check "controlPlane.caFile" absPath cfg.controlPlane.caFile)
      (check "controlPlane.certFile" absPath cfg.controlPlane.certFile)
      (check "controlPlane.keyFile" absPath cfg.controlPlane.keyFile)
      (check "controlPlane.publicKey" (p.matches p.publicKeyB64) cfg.controlPlane.publicKey)
      (check "evidenceKeyFile" absPath cfg.evidenceKeyFile)
      (check "stateDir" absPath cfg.stateDir)
      (check "baselineFile" absPath cfg.baselineFile)
      (if cfg.runbooksDir == null then [ ] else check "runbooksDir" absPath cfg.runbooksDir)
      (check "checkIntervalSeconds" (intIn 10 86400) cfg.checkIntervalSeconds)
      (check "outbox.maxBytes" (v: isInt v && v >= 1048576) cfg.outbox.maxBytes)
      (check "outbox.sendWindow" (intIn 1 10000) cfg.outbox.sendWindow)
      (check "offlineAutonomy" (all (p.matches p.runbookId)) cfg.offlineAutonomy)
      (check "offlineCooldownSeconds" (v: isInt v && v >= 60) cfg.offlineCooldownSeconds)
      (check "pathRoots" pathRootsOk cfg.pathRoots)
      (check "serviceAllowlist" (all (p.matches p.serviceName)) cfg.serviceAllowlist)
      (check "processAllowlist" (all (p.matches p.processName)) cfg.processAllowlist)
      (check "serviceManager" (v: v == "systemd" || v == "supervisor") cfg.serviceManager)
      (check "logLevel" (v: builtins.elem v [ "debug" "info" "warn" "error" ]) cfg.logLevel)
    ];
}
