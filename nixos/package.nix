# The msp-agent package: wraps a PREBUILT single executable (Node SEA, made by
# `pnpm build:agent` on a glibc Linux, agent/dist/msp-agent). It does not
# build the agent from source: that needs the pnpm dependency tree, which a
# sandboxed Nix build can only fetch with a pinned hash we do not publish yet.
#
# The executable is a copy of the upstream node binary with the agent
# injected, linked against /lib64/ld-linux-*.so, which NixOS does not have.
# Instead of patching the ELF file (which would change the bytes whose sha256
# the release publishes), the wrapper runs it through the Nix glibc loader
# with libstdc++ on the library path. The executable is installed unmodified.
{
  lib,
  stdenvNoCC,
  stdenv,
  runtimeShell,
  # Path to the prebuilt executable, e.g. ./agent/dist/msp-agent.
  binary,
  version ? "0.1.0",
}:
stdenvNoCC.mkDerivation {
  pname = "msp-agent";
  inherit version;
  dontUnpack = true;
  dontStrip = true;
  dontPatchELF = true;
  installPhase = ''
    runHook preInstall
    install -Dm0555 ${binary} $out/libexec/msp-agent/msp-agent
    mkdir -p $out/bin
    cat > $out/bin/msp-agent <<WRAPPER
    #!${runtimeShell}
    exec ${stdenv.cc.bintools.dynamicLinker} --library-path ${lib.makeLibraryPath [ stdenv.cc.cc.lib ]} $out/libexec/msp-agent/msp-agent "\$@"
    WRAPPER
    chmod 0555 $out/bin/msp-agent
    runHook postInstall
  '';
  meta = {
    description = "MSP HIPAA compliance agent (prebuilt single executable, wrapped for NixOS)";
    license = lib.licenses.asl20;
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
    mainProgram = "msp-agent";
    sourceProvenance = [ lib.sourceTypes.binaryNativeCode ];
  };
}
