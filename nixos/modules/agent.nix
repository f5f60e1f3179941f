# services.msp.agent: the MSP agent (drift checks, pre-approved runbooks,
# signed evidence) as a systemd service on a clinic server.
#
# The options mirror the agent config schema (AgentConfig in
# shared/src/protocol/config.ts) one to one; the module writes that document to
# /etc/msp/agent.json (JSON is YAML, which the agent reads) and starts
# `msp-agent run --config /etc/msp/agent.json`. A host without a certificate
# yet enrolls on first boot with a one-time token (msp-agent-enroll.service).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.msp.agent;
  patterns = import ../lib/patterns.nix;
  agentConfig = import ../lib/agent-config.nix;
  runbookRoots = import ../lib/runbook-roots.nix;
  agentHardening = import ../lib/agent-hardening.nix;
  inherit (lib) mkOption types;

  configPath = "/etc/msp/agent.json";
  exe = "${cfg.package}/bin/msp-agent";
  matching = name: types.strMatching patterns.${name};
  absPath = matching "absPath";
  isStorePath = p: p != null && lib.hasPrefix builtins.storeDir p;

  # Where the agent may write: its state, and the path roots runbooks write
  # to (the agent confines path parameters to path_roots itself; the mount
  # namespace enforces the writable ones a second time). Measured, read and
  # executed roots stay read-only; a site's own roots go in extraReadWritePaths.
  writablePaths = lib.unique (
    [ cfg.stateDir ]
    ++ lib.concatLists (lib.attrValues (lib.getAttrs (lib.intersectLists runbookRoots.writable (lib.attrNames cfg.pathRoots)) cfg.pathRoots))
    ++ cfg.extraReadWritePaths
    # chronyc binds its client socket here when the time check asks chronyd.
    ++ [ "/run/chrony" ]
  );

  # Derives the HTTPS enrollment endpoint's origin from the WebSocket URL.
  defaultEnrollUrl =
    let
      m = builtins.match "wss://([^/]+).*" cfg.controlPlane.url;
    in
    if m == null then null else "https://${builtins.head m}";
  enrollUrl = if cfg.enrollment.url != null then cfg.enrollment.url else defaultEnrollUrl;
in
{
  options.services.msp.agent = {
    enable = lib.mkEnableOption "the MSP compliance agent (drift checks, runbooks, signed evidence)";

    package = mkOption {
      type = types.nullOr types.package;
      default = null;
      defaultText = lib.literalExpression "null (the flake's nixosModules set it to its msp-agent package)";
      example = lib.literalExpression "inputs.msp.packages.x86_64-linux.msp-agent";
      description = ''
        Package providing `bin/msp-agent`, the single-executable agent. The
        flake's modules default it to the flake's package, which wraps a
        prebuilt executable (see nixos/README.md).
      '';
    };

    agentId = mkOption {
      type = matching "slug";
      example = "clinic-a-srv-01";
      description = "This agent's id: a lower-case slug, unique in the deployment, bound into its certificate.";
    };

    clientId = mkOption {
      type = matching "slug";
      example = "clinic-a";
      description = "The clinic (tenant) this host belongs to; every evidence bundle carries it.";
    };

    hostname = mkOption {
      type = types.nullOr (types.addCheck types.str patterns.isHostname);
      default = null;
      example = "srv-01";
      description = "Host name in evidence; null lets the agent use the system host name.";
    };

    controlPlane = {
      url = mkOption {
        type = matching "wssUrl";
        example = "wss://cp.msp.example:8443/v1/agent";
        description = "The control plane's agent WebSocket endpoint (mTLS).";
      };
      caFile = mkOption {
        type = absPath;
        default = "/etc/msp/ca.pem";
        description = "CA certificate(s) that sign the control plane's server certificate.";
      };
      certFile = mkOption {
        type = absPath;
        default = "${cfg.stateDir}/tls/agent.crt";
        defaultText = lib.literalExpression ''"''${config.services.msp.agent.stateDir}/tls/agent.crt"'';
        description = "This agent's client certificate, issued at enrollment.";
      };
      keyFile = mkOption {
        type = absPath;
        default = "${cfg.stateDir}/tls/agent.key";
        defaultText = lib.literalExpression ''"''${config.services.msp.agent.stateDir}/tls/agent.key"'';
        description = "Private key of the client certificate (mode 0600, never in the Nix store).";
      };
      publicKey = mkOption {
        type = matching "publicKeyB64";
        example = "Hx8s1Q3p7G0sM4m2Q0b2mX6f5a9v8n1c3d7e2f4g6hE=";
        description = ''
          The control plane's ed25519 public key (base64, 32 bytes), pinned:
          acknowledgements and runbook commands must verify against it. It is
          public, so it may live in the Nix store.
        '';
      };
    };

    enrollment = {
      tokenFile = mkOption {
        type = types.nullOr absPath;
        default = null;
        example = "/run/keys/msp-enrollment-token";
        description = ''
          File holding a one-time enrollment token (`msp_enr_...`). When set and
          `controlPlane.certFile` does not exist yet, msp-agent-enroll.service
          enrolls before the agent starts. Keep it out of the Nix store
          (agenix, sops-nix or a file copied at install time).
        '';
      };
      url = mkOption {
        type = types.nullOr (types.strMatching "https://[^[:space:]]+");
        default = null;
        example = "https://cp.msp.example:8443";
        description = "Enrollment endpoint origin; null derives https://HOST[:PORT] from `controlPlane.url`.";
      };
      caFile = mkOption {
        type = absPath;
        default = cfg.controlPlane.caFile;
        defaultText = lib.literalExpression "config.services.msp.agent.controlPlane.caFile";
        description = "CA bundle that verifies the enrollment endpoint.";
      };
    };

    evidenceKeyFile = mkOption {
      type = absPath;
      default = "${cfg.stateDir}/evidence.key";
      defaultText = lib.literalExpression ''"''${config.services.msp.agent.stateDir}/evidence.key"'';
      description = "The agent's ed25519 evidence signing key; created (0600) on first start if missing.";
    };

    stateDir = mkOption {
      type = absPath;
      default = "/var/lib/msp-agent";
      description = "Outbox, agent state and snapshots. Must be under /var/lib (a systemd StateDirectory).";
    };

    baselineFile = mkOption {
      type = absPath;
      default = "/etc/msp/baseline/hipaa-v1.yaml";
      description = "Drift baseline the agent checks against; services.msp.baselineEnforcement installs it.";
    };

    runbooksDir = mkOption {
      type = types.nullOr absPath;
      default = null;
      description = "Runbook library directory; null uses the library embedded in the executable.";
    };

    checkIntervalSeconds = mkOption {
      type = types.ints.between 10 86400;
      default = 3600;
      description = "Seconds between drift cycles.";
    };

    outbox = {
      maxBytes = mkOption {
        type = types.ints.between 1048576 1099511627776;
        default = 536870912;
        description = "Largest outbox size in bytes before the agent alerts (evidence is never dropped).";
      };
      sendWindow = mkOption {
        type = types.ints.between 1 10000;
        default = 256;
        description = "Bundles in flight to the control plane before an acknowledgement is awaited.";
      };
    };

    offlineAutonomy = mkOption {
      type = types.listOf (matching "runbookId");
      default = [ ];
      example = [
        "RB-DISK-001"
        "RB-SERVICE-001"
      ];
      description = "Runbooks the agent may run by itself while the control plane is unreachable.";
    };

    offlineCooldownSeconds = mkOption {
      type = types.ints.between 60 31536000;
      default = 1800;
      description = "Least time between two offline runs of the same runbook.";
    };

    pathRoots = mkOption {
      type = types.attrsOf (types.nonEmptyListOf absPath);
      default = { };
      example = {
        tmp = [ "/tmp" "/var/tmp" ];
        log = [ "/var/log" ];
        backup_targets = [ "/var/backups/msp" ];
      };
      description = ''
        Named sets of directories that runbook path parameters must resolve
        inside. The roots runbooks write to (backup_targets, certs, log, tmp)
        are also the only places besides `stateDir` the service may write
        (ReadWritePaths); other roots stay read-only.
      '';
    };

    serviceAllowlist = mkOption {
      type = types.listOf (matching "serviceName");
      default = [ ];
      example = [ "nginx.service" "postgresql.service" ];
      description = "Units runbooks may restart.";
    };

    processAllowlist = mkOption {
      type = types.listOf (matching "processName");
      default = [ ];
      example = [ "backup-job" ];
      description = "Processes runbooks may stop.";
    };

    serviceManager = mkOption {
      type = types.enum [ "systemd" "supervisor" ];
      default = "systemd";
      description = "How runbooks restart services.";
    };

    logLevel = mkOption {
      type = types.enum [ "debug" "info" "warn" "error" ];
      default = "info";
      description = "Agent log level (JSON lines on stderr, into the journal).";
    };

    extraPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.restic ]";
      description = "More tools on the service's PATH for site-specific runbook steps.";
    };

    extraReadWritePaths = mkOption {
      type = types.listOf absPath;
      default = [ ];
      description = "More paths the service may write besides `stateDir` and `pathRoots`.";
    };

    extraCapabilities = mkOption {
      type = types.listOf (types.strMatching "CAP_[A-Z_]+");
      default = [ ];
      example = [ "CAP_SYS_ADMIN" ];
      description = "Capabilities added to the bounding set (for example for site runbooks that mount).";
    };

    configFile = mkOption {
      type = types.str;
      readOnly = true;
      default = configPath;
      description = "Where the generated agent config is written (read-only; MSP_AGENT_CONFIG points at it).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.package != null;
        message = "services.msp.agent.package is not set: use the flake's nixosModules (which set it) or set it to a package providing bin/msp-agent.";
      }
      {
        assertion = lib.hasPrefix "/var/lib/" cfg.stateDir;
        message = "services.msp.agent.stateDir (${cfg.stateDir}) must be under /var/lib/: it is created as the unit's StateDirectory.";
      }
      {
        assertion = cfg.enrollment.tokenFile == null || enrollUrl != null;
        message = "services.msp.agent.enrollment.url can not be derived from controlPlane.url; set it.";
      }
    ]
    ++ map (p: {
      assertion = false;
      message = "services.msp.agent.${p}";
    }) (agentConfig.problems cfg)
    ++ [
      {
        assertion = !isStorePath cfg.evidenceKeyFile;
        message = "services.msp.agent.evidenceKeyFile is in the Nix store, which every local user can read; point it at a file outside /nix/store.";
      }
      {
        assertion = !isStorePath cfg.controlPlane.keyFile;
        message = "services.msp.agent.controlPlane.keyFile is in the Nix store, which every local user can read; point it at a file outside /nix/store.";
      }
      {
        assertion = !isStorePath cfg.enrollment.tokenFile;
        message = "services.msp.agent.enrollment.tokenFile is in the Nix store, which every local user can read; point it at a file outside /nix/store.";
      }
      {
        assertion = !(builtins.elem "RB-SERVICE-001" cfg.offlineAutonomy) || cfg.serviceAllowlist != [ ];
        message = "services.msp.agent.offlineAutonomy names RB-SERVICE-001 but serviceAllowlist is empty: the runbook may restart nothing.";
      }
    ]
    ++ lib.concatMap (
      id:
      map (root: {
        assertion = cfg.pathRoots ? ${root};
        message = "services.msp.agent.offlineAutonomy names ${id}, whose path parameters resolve in the \"${root}\" root, but pathRoots.${root} is not set.";
      }) (runbookRoots.roots.${id} or [ ])
    ) cfg.offlineAutonomy;

    environment.etc."msp/agent.json".text = builtins.toJSON (agentConfig.toConfig cfg);
    # So `msp-agent status`, `check` and `verify-outbox` in a root shell use this host's config.
    environment.variables.MSP_AGENT_CONFIG = configPath;
    environment.systemPackages = lib.optional (cfg.package != null) cfg.package;

    systemd.services.msp-agent-enroll = lib.mkIf (cfg.enrollment.tokenFile != null) {
      description = "Enroll the MSP agent with the control plane (first boot only)";
      wantedBy = [ "multi-user.target" ];
      before = [ "msp-agent.service" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # Runs only until a certificate exists; later boots skip it as "condition failed", not as an error.
      unitConfig.ConditionPathExists = "!${cfg.controlPlane.certFile}";
      environment.MSP_AGENT_CONFIG = configPath;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        # The token is handed over as a credential: readable by this unit only, gone when it stops.
        LoadCredential = [ "token:${cfg.enrollment.tokenFile}" ];
        StateDirectory = lib.removePrefix "/var/lib/" cfg.stateDir;
        StateDirectoryMode = "0700";
        UMask = "0077";
        # No keygen first: enroll makes both keys itself and refuses to overwrite existing ones.
        ExecStart = lib.concatStringsSep " " [
          exe
          "enroll"
          "--url ${enrollUrl}"
          "--token-file %d/token"
          "--ca-file ${cfg.enrollment.caFile}"
          "--agent-id ${cfg.agentId}"
          "--config-out ${cfg.stateDir}/enrolled-config.yaml"
        ];
        # The generated config names the certificate paths; fail here, clearly, if enrollment wrote elsewhere.
        ExecStartPost = [
          "${pkgs.coreutils}/bin/test -s ${cfg.controlPlane.certFile}"
          "${pkgs.coreutils}/bin/test -s ${cfg.controlPlane.keyFile}"
        ];
      };
    };

    systemd.services.msp-agent = {
      description = "MSP compliance agent (drift checks, runbooks, signed evidence)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ] ++ lib.optional (cfg.enrollment.tokenFile != null) "msp-agent-enroll.service";
      requires = lib.optional (cfg.enrollment.tokenFile != null) "msp-agent-enroll.service";
      restartTriggers = [ config.environment.etc."msp/agent.json".text ];
      environment.MSP_AGENT_CONFIG = configPath;
      # What drift checks and runbook steps call: nft/iptables (firewall), sshd -T,
      # auditctl, chronyc/timedatectl, lsblk/cryptsetup, openssl/step (certificates),
      # tar/sqlite3 (backups), systemctl, ps/kill.
      path =
        with pkgs;
        [
          bash
          coreutils
          findutils
          gnugrep
          gnused
          gawk
          gnutar
          gzip
          procps
          util-linux
          systemd
          openssl
          step-cli
          sqlite
          openssh
          audit
          chrony
          cryptsetup
          nftables
          iptables
        ]
        ++ cfg.extraPackages;
      # Never give up restarting: a stopped agent is a compliance gap. The delay
      # grows from 5 s to 5 min so a crash loop does not flood the journal.
      startLimitIntervalSec = 0;
      serviceConfig = {
        Type = "exec";
        ExecStartPre = [ "${exe} keygen --config ${configPath}" ];
        ExecStart = "${exe} run --config ${configPath}";
        Restart = "always";
        RestartSec = "5s";
        RestartSteps = 6;
        RestartMaxDelaySec = "5min";
        # SIGTERM to the agent first, so a running runbook step can finish or
        # roll back and the outbox closes cleanly; the rest of the group after.
        KillMode = "mixed";
        TimeoutStopSec = "90s";
        StateDirectory = lib.removePrefix "/var/lib/" cfg.stateDir;
        StateDirectoryMode = "0700";
      }
      // agentHardening {
        inherit writablePaths;
        inherit (cfg) extraCapabilities;
      };
    };
  };
}
