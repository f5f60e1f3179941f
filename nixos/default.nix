# All MSP NixOS modules. Import this file (or the flake's
# nixosModules.default) and enable the services you need:
# services.msp.{agent, baselineEnforcement, encryption, sshCertificates}.
{
  imports = [
    ./modules/agent.nix
    ./modules/baseline-enforcement.nix
    ./modules/encryption.nix
    ./modules/ssh-certificates.nix
  ];
}
