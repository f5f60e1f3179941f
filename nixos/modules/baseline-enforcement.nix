# services.msp.baselineEnforcement: continuous HIPAA baseline checks on a
# clinic server, carried out by the agent rather than by separate scripts.
#
# What it wires:
# - installs the baseline (by default the agent's own hipaa-v1.yaml) under
#   /etc/msp/baseline/ and points the agent at it;
# - sets the agent's drift cycle to the check interval (hourly by default):
#   every cycle is a signed evidence bundle, every failing check an incident
#   sent to the control plane, which plans the remediation;
# - auto-remediation: the runbooks the agent may also run by itself while the
#   control plane is unreachable (offline autonomy), with the path roots and
#   service allowlist those runbooks need;
# - a weekly snapshot (msp-baseline-snapshot.timer): one extra drift cycle
#   kept as JSON with the baseline's sha256, posted to a webhook when it finds
#   drift;
# - optionally the NixOS settings that make the baseline pass (auditd rules
#   with the keys it requires, chrony, nftables, key-only SSH), as defaults.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.msp.baselineEnforcement;
  agent = config.services.msp.agent;
  inherit (lib) mkDefault mkOption types;

  extension = lib.last (lib.splitString "." (baseNameOf (toString cfg.baseline)));
  installedPath = "/etc/msp/baseline/${cfg.name}.${extension}";
  intervals = {
    quarter-hourly = 900;
    hourly = 3600;
    daily = 86400;
  };
  intervalSeconds = if builtins.isInt cfg.checkInterval then cfg.checkInterval else intervals.${cfg.checkInterval};
  snapshotDir = "${agent.stateDir}/snapshots";
  runbookRoots = import ../lib/runbook-roots.nix;
  agentHardening = import ../lib/agent-hardening.nix;

  # The snapshot: one drift cycle by the agent, kept with the baseline's hash;
  # drift goes to the webhook. Every value comes in through the environment.
  snapshotScript = pkgs.writeShellScript "msp-baseline-snapshot" ''
    set -euo pipefail
    mkdir -p "$SNAPSHOT_DIR"
    stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
    out="$SNAPSHOT_DIR/drift-$stamp.json"
    msp-agent check --json --config "$MSP_AGENT_CONFIG" > "$out.check"
    jq --arg taken_at "$stamp" --arg baseline_file "$BASELINE_FILE" \
       --arg baseline_sha256 "$(sha256sum "$BASELINE_FILE" | cut -d' ' -f1)" \
       --arg host "$(hostname)" \
       '{taken_at: $taken_at, host: $host, baseline_file: $baseline_file, baseline_sha256: $baseline_sha256, check: .}' \
       "$out.check" > "$out.tmp"
    rm -f "$out.check"
    mv "$out.tmp" "$out"
    # Keep the newest KEEP snapshots; the signed bundles themselves live in the outbox and WORM.
    ls -1t "$SNAPSHOT_DIR"/drift-*.json | tail -n +"$((KEEP + 1))" | xargs -r rm --
    incidents=$(jq '.check.incidents | length' "$out")
    echo "snapshot $out: $incidents incident(s)"
    if [ -n "''${WEBHOOK_URL:-}" ] && [ "$incidents" -gt 0 ]; then
      headers="$RUNTIME_DIRECTORY/headers"
      printf 'Content-Type: application/json\n' > "$headers"
      if [ -n "''${CREDENTIALS_DIRECTORY:-}" ] && [ -r "$CREDENTIALS_DIRECTORY/webhook-token" ]; then
        printf 'Authorization: Bearer %s\n' "$(tr -d '\n' < "$CREDENTIALS_DIRECTORY/webhook-token")" >> "$headers"
      fi
      curl --fail --silent --show-error --max-time 30 --proto =https \
        -H @"$headers" --data-binary @"$out" "$WEBHOOK_URL"
      echo "drift reported to the webhook"
    fi
  '';
in
{
  options.services.msp.baselineEnforcement = {
    enable = lib.mkEnableOption "continuous HIPAA baseline checks by the MSP agent";

    baseline = mkOption {
      type = types.path;
      default = ../../agent/baselines/hipaa-v1.yaml;
      defaultText = lib.literalExpression "agent/baselines/hipaa-v1.yaml from this repository";
      example = lib.literalExpression "./clinic-a-baseline.yaml";
      description = ''
        The baseline document (YAML or JSON, schema shared/src/protocol/baseline.ts).
        It is public policy, so it goes through the Nix store; copy the shipped
        one to adjust the site-specific values it marks.
      '';
    };

    name = mkOption {
      type = types.strMatching "[a-z0-9][a-z0-9_.-]{0,63}";
      default = "hipaa-v1";
      description = "File name (without extension) under /etc/msp/baseline/.";
    };

    checkInterval = mkOption {
      type = types.either (types.enum (lib.attrNames intervals)) (types.ints.between 10 86400);
      default = "hourly";
      example = 1800;
      description = "How often the agent runs the baseline: hourly, daily, quarter-hourly or seconds.";
    };

    autoRemediate = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Let the agent run `remediationRunbooks` by itself while the control
        plane is unreachable. Online, the control plane's planner and approval
        policy decide every remediation either way; false leaves the agent
        detect-only when offline.
      '';
    };

    remediationRunbooks = mkOption {
      type = types.listOf (types.strMatching "RB-[A-Z]+-[0-9]{3}");
      default = [
        "RB-SERVICE-001"
        "RB-DISK-001"
      ];
      description = ''
        Runbooks for offline autonomy when `autoRemediate` is on. The defaults
        fix what the baseline's services and disk checks find: the module adds
        the security services to the service allowlist and /tmp, /var/tmp and
        /var/log as path roots (each a default a site may replace).
      '';
    };

    webhook = {
      url = mkOption {
        type = types.nullOr (types.strMatching "https://[^[:space:]]+");
        default = null;
        example = "https://psa.msp.example/hooks/drift";
        description = ''
          HTTPS endpoint that receives the snapshot (JSON) when it finds drift.
          Incidents of the hourly cycles reach the MSP through the control
          plane within seconds; this is an independent second channel.
        '';
      };
      tokenFile = mkOption {
        type = types.nullOr (types.strMatching "/[^\n]*");
        default = null;
        example = "/run/keys/msp-drift-webhook";
        description = "File with a bearer token for the webhook (sent as Authorization: Bearer).";
      };
    };

    snapshot = {
      calendar = mkOption {
        type = types.str;
        default = "weekly";
        example = "Mon *-*-* 06:00:00";
        description = "When the baseline snapshot runs (systemd OnCalendar).";
      };
      keep = mkOption {
        type = types.ints.between 1 10000;
        default = 52;
        description = "How many snapshots to keep under the agent's state directory.";
      };
    };

    hostHardening = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Set (as defaults a site may override) the NixOS options the shipped
        baseline checks: auditd with the identity, logins, time-change and
        privileged rule keys; chrony; the nftables firewall; key-only SSH
        without root login and at most 4 authentication tries.
      '';
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = agent.enable;
            message = "services.msp.baselineEnforcement needs services.msp.agent.enable = true: the agent runs the checks.";
          }
          {
            assertion = builtins.elem extension [
              "yaml"
              "yml"
              "json"
            ];
            message = "services.msp.baselineEnforcement.baseline must be a .yaml, .yml or .json file, got ${baseNameOf (toString cfg.baseline)}.";
          }
          {
            assertion = agent.baselineFile == installedPath;
            message = "services.msp.agent.baselineFile (${agent.baselineFile}) contradicts services.msp.baselineEnforcement, which installs the baseline at ${installedPath}; unset one of them.";
          }
          {
            assertion = agent.checkIntervalSeconds == intervalSeconds;
            message = "services.msp.agent.checkIntervalSeconds (${toString agent.checkIntervalSeconds}) contradicts services.msp.baselineEnforcement.checkInterval (${toString intervalSeconds} s); set the interval once, with baselineEnforcement.checkInterval.";
          }
          {
            assertion = cfg.autoRemediate || agent.offlineAutonomy == [ ];
            message = "services.msp.baselineEnforcement.autoRemediate is false but services.msp.agent.offlineAutonomy lists ${lib.concatStringsSep ", " agent.offlineAutonomy}; clear one of them.";
          }
          {
            assertion = cfg.webhook.tokenFile == null || cfg.webhook.url != null;
            message = "services.msp.baselineEnforcement.webhook.tokenFile is set but webhook.url is not.";
          }
          {
            assertion = cfg.webhook.tokenFile == null || !lib.hasPrefix builtins.storeDir cfg.webhook.tokenFile;
            message = "services.msp.baselineEnforcement.webhook.tokenFile is in the Nix store, which every local user can read.";
          }
        ];

        environment.etc."msp/baseline/${cfg.name}.${extension}".source = cfg.baseline;

        services.msp.agent = {
          baselineFile = mkDefault installedPath;
          checkIntervalSeconds = mkDefault intervalSeconds;
          offlineAutonomy = mkDefault (lib.optionals cfg.autoRemediate cfg.remediationRunbooks);
        };

        systemd.services.msp-baseline-snapshot = {
          description = "MSP baseline snapshot (one drift cycle kept as JSON, drift sent to the webhook)";
          after = [ "msp-agent.service" ];
          path = (config.systemd.services.msp-agent.path or [ ]) ++ [
            pkgs.jq
            pkgs.curl
            pkgs.nettools
          ];
          environment = {
            MSP_AGENT_CONFIG = agent.configFile;
            SNAPSHOT_DIR = snapshotDir;
            BASELINE_FILE = installedPath;
            KEEP = toString cfg.snapshot.keep;
          }
          // lib.optionalAttrs (cfg.webhook.url != null) { WEBHOOK_URL = cfg.webhook.url; };
          serviceConfig = {
            Type = "oneshot";
            ExecStart = snapshotScript;
            RuntimeDirectory = "msp-baseline-snapshot";
            RuntimeDirectoryMode = "0700";
            LoadCredential = lib.optional (cfg.webhook.tokenFile != null) "webhook-token:${cfg.webhook.tokenFile}";
          }
          // agentHardening {
            writablePaths = [
              agent.stateDir
              "/run/chrony"
            ];
            inherit (agent) extraCapabilities;
          };
        };

        systemd.timers.msp-baseline-snapshot = {
          description = "Weekly MSP baseline snapshot";
          wantedBy = [ "timers.target" ];
          timerConfig = {
            OnCalendar = cfg.snapshot.calendar;
            Persistent = true;
            RandomizedDelaySec = "15min";
          };
        };
      }

      # What the default remediation runbooks need, as defaults a site replaces.
      (lib.mkIf cfg.autoRemediate {
        services.msp.agent.serviceAllowlist = mkDefault [
          "sshd.service"
          "auditd.service"
          "nftables.service"
          "chronyd.service"
        ];
        services.msp.agent.pathRoots = lib.mkMerge [
          (lib.mkIf (builtins.elem "RB-DISK-001" cfg.remediationRunbooks) {
            tmp = mkDefault [
              "/tmp"
              "/var/tmp"
            ];
            log = mkDefault [ "/var/log" ];
            disk_targets = mkDefault [
              "/"
              "/var/log"
            ];
          })
        ];
      })

      (lib.mkIf cfg.hostHardening {
        security.auditd.enable = mkDefault true;
        security.audit.enable = mkDefault true;
        # The rule keys the baseline's auditd check requires (identity, logins,
        # time-change, privileged), at least eight rules in all.
        security.audit.rules = [
          "-w /etc/passwd -p wa -k identity"
          "-w /etc/group -p wa -k identity"
          "-w /etc/shadow -p wa -k identity"
          "-w /var/log/lastlog -p wa -k logins"
          "-w /var/run/faillock -p wa -k logins"
          "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change"
          "-w /etc/localtime -p wa -k time-change"
          "-w /etc/sudoers -p wa -k privileged"
          "-w /run/wrappers/bin/sudo -p x -k privileged"
        ];
        services.chrony.enable = mkDefault true;
        networking.nftables.enable = mkDefault true;
        networking.firewall.enable = mkDefault true;
        services.openssh.settings = {
          PasswordAuthentication = mkDefault false;
          KbdInteractiveAuthentication = mkDefault false;
          PermitRootLogin = mkDefault "no";
          MaxAuthTries = mkDefault 4;
        };
      })
    ]
  );
}
