#!/usr/bin/env bash
# Assembles an OCI image archive (oci-layout, index.json, blobs/) without Docker or
# a registry, for the real test node: `ctr images import` loads it into containerd
# under its full name, so pods with `imagePullPolicy: IfNotPresent` find it.
#
#   scripts/oci-image.sh gpt-service BINARY TAG OUT.tar
#       the service image gptservice.azurecr.io/gpt-service:TAG: the Dockerfile's
#       final stage rebuilt from the same release binary (same path, mode, user,
#       entrypoint, command, environment, port) on what distroless/cc-debian12
#       carries that the binary needs: the dynamic loader, glibc and libgcc_s
#       (copied from this Debian 12 machine, the distribution that image is made
#       from), the CA bundle, passwd/group (root, nobody, nonroot and the
#       pods' uid 10001), nsswitch.conf and a world-writable /tmp.
#   scripts/oci-image.sh pause BINARY NAME OUT.tar
#       a one-file sandbox image NAME (the pods' pause container).
#
# One uncompressed layer, files owned by root, timestamps at 0: the same inputs
# give a byte-identical archive. tests/it checks this recipe against the Dockerfile.
set -euo pipefail

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
usage="usage: scripts/oci-image.sh gpt-service BINARY TAG OUT.tar | pause BINARY NAME OUT.tar"
(($# == 4)) || die "$usage"
kind=$1 binary=$2 name=$3 out=$4
[[ -f $binary && -x $binary ]] || die "$binary is not an executable file; build it first (cargo build --release --bin gpt-deploy)."

case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) die "unsupported machine architecture $(uname -m)" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs" "$work/oci/blobs/sha256"

# A deterministic tar of directory $1's contents into file $2.
det_tar() {
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -C "$1" -cf "$2" .
}
# Moves file $1 into the blob store; prints its digest and size.
blob() {
    local digest
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    mv "$1" "$work/oci/blobs/sha256/$digest"
    printf 'sha256:%s %s\n' "$digest" "$(stat -c %s "$work/oci/blobs/sha256/$digest")"
}
# Copies host file $1 (symlinks resolved) to the same path in the image.
from_host() {
    [[ -e $1 ]] || die "$1 is missing on this machine"
    install -D -m "${2:-0644}" "$(readlink -f "$1")" "$rootfs$1"
}

case $kind in
gpt-service)
    [[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "'$name' is not a valid image tag."
    ref=gptservice.azurecr.io/gpt-service:$name
    # The Dockerfile: `install -D -m 0555 ... /out/gpt-deploy`, then
    # `COPY --from=build /out/gpt-deploy /usr/local/bin/gpt-deploy`.
    install -D -m 0555 "$binary" "$rootfs/usr/local/bin/gpt-deploy"
    # The loader and the libraries it resolves, plus libgcc_s (distroless/cc
    # ships it for unwinding even when nothing links it directly).
    libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
    # (awk reads to the end: an early exit would kill ldconfig with SIGPIPE.)
    libgcc=$(ldconfig -p | awk '$1 == "libgcc_s.so.1" && $NF ~ /^\// && !found { print $NF; found = 1 }')
    [[ -n $libgcc ]] || die "libgcc_s.so.1 not found (ldconfig -p); install libgcc-s1."
    [[ $libs == *ld-linux* ]] || die "$binary has no dynamic loader; this recipe expects a glibc build."
    for lib in $libs $libgcc; do from_host "$lib" 0755; done
    from_host /etc/ssl/certs/ca-certificates.crt
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
        'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' \
        'gpt-deploy:x:10001:10001:gpt-deploy:/nonexistent:/sbin/nologin' >"$rootfs/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' 'gpt-deploy:x:10001:' >"$rootfs/etc/group"
    printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
    chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
    mkdir -m 1777 "$rootfs/tmp"
    # The Dockerfile's final stage: USER, ENV, EXPOSE, ENTRYPOINT, CMD (PATH and
    # SSL_CERT_FILE come from the distroless base).
    config='{"User":"10001:10001","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt","LOG_FORMAT=json"],"Entrypoint":["/usr/local/bin/gpt-deploy"],"Cmd":["serve"],"ExposedPorts":{"8080/tcp":{}},"WorkingDir":"/","Labels":{"org.opencontainers.image.version":"'$name'"}}'
    ;;
pause)
    [[ $name =~ ^[a-z0-9./-]+:[A-Za-z0-9_.-]+$ ]] || die "'$name' is not a valid image name (repository:tag)."
    ref=$name
    install -D -m 0555 "$binary" "$rootfs/pause"
    config='{"User":"65535:65535","Entrypoint":["/pause"],"WorkingDir":"/"}'
    ;;
*) die "$usage" ;;
esac
find "$rootfs" -type d ! -path "$rootfs/tmp" -exec chmod 0755 {} +

det_tar "$rootfs" "$work/layer.tar"
read -r layer layer_size < <(blob "$work/layer.tar")
printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$arch" "$config" "$layer" >"$work/config.json"
read -r config_digest config_size < <(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
read -r manifest manifest_size < <(blob "$work/manifest.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$arch" "$ref" "${ref##*:}" >"$work/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
det_tar "$work/oci" "$work/image.tar"
mkdir -p "$(dirname "$out")"
mv "$work/image.tar" "$out"
printf '%s %s\n' "$ref" "$manifest"
