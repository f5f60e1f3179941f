{
  # NixOS modules for clinic servers (services.msp.*) and the msp-agent
  # package. See nixos/README.md for what each module does and for what the
  # package is: a wrapper around a prebuilt agent executable, not a source build.
  description = "MSP HIPAA compliance autopilot: NixOS modules and the agent package";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # The executable `pnpm build:agent` writes. Git does not track it, so a
      # git+file flake can not see it: build with `nix build path:.#msp-agent`.
      prebuilt = ./agent/dist/msp-agent;
      # Gives services.msp.agent.package this flake's package as its default.
      packageDefault =
        { lib, pkgs, ... }:
        {
          services.msp.agent.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.msp-agent;
        };
      withPackage = module: {
        imports = [
          module
          packageDefault
        ];
      };
    in
    {
      # Wraps any prebuilt agent executable (a release download, a CI artifact):
      # `msp.lib.mkAgentPackage pkgs ./msp-agent`.
      lib.mkAgentPackage = pkgs: binary: pkgs.callPackage ./nixos/package.nix { inherit binary; };

      packages = forAll (pkgs: {
        msp-agent =
          if builtins.pathExists prebuilt then
            self.lib.mkAgentPackage pkgs prebuilt
          else
            throw "agent/dist/msp-agent does not exist: run `pnpm build:agent`, then `nix build path:.#msp-agent` (a git+file flake does not see untracked files), or set services.msp.agent.package to msp.lib.mkAgentPackage pkgs <executable>.";
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.msp-agent;
      });

      nixosModules = {
        agent = withPackage ./nixos/modules/agent.nix;
        baselineEnforcement = ./nixos/modules/baseline-enforcement.nix;
        encryption = ./nixos/modules/encryption.nix;
        sshCertificates = ./nixos/modules/ssh-certificates.nix;
        default = withPackage ./nixos/default.nix;
      };
    };
}
