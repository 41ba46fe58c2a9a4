#!/usr/bin/env bash
# Builds Conveyor's local build images without any container registry:
#
#   conveyor/busybox:latest        FROM scratch + Debian's static busybox (tests, tiny builds)
#   conveyor/build-debian:bookworm debootstrap'd Debian bookworm + git, curl, bash, zip + the host's Go
#
# Usage: images/build.sh [busybox|debian]...   (no argument: both)
#   FORCE=1          rebuild even when the image already exists
#   MIRROR=URL       Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   GOROOT_SRC=DIR   Go toolchain copied into build-debian (default: $(go env GOROOT))
#
# An image that already exists (docker image inspect) is skipped, so the script is idempotent.
# The Debian image needs root (debootstrap, chroot). See images/README.md.
set -euo pipefail

BUSYBOX_IMAGE=conveyor/busybox:latest
DEBIAN_IMAGE=conveyor/build-debian:bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
FORCE=${FORCE:-0}

die() { echo "images/build.sh: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

# Temp dirs to remove on exit (after unmounting anything left mounted below them).
tmpdirs=()
cleanup() {
	local d m
	for d in "${tmpdirs[@]}"; do
		for m in $(awk -v w="$d/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
			umount -l "$m" 2>/dev/null || true
		done
		rm -rf --one-file-system "$d"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
	die "cannot reach the Docker daemon (is it running? is DOCKER_HOST right?)"

# needs_build IMAGE: true when IMAGE must be built (missing, or FORCE=1).
needs_build() {
	if docker image inspect "$1" >/dev/null 2>&1; then
		if [ "$FORCE" = 1 ]; then
			return 0
		fi
		log "$1 already exists, skipping (FORCE=1 to rebuild)"
		return 1
	fi
	return 0
}

# replace_old IMAGE: with FORCE=1, untag the existing IMAGE (called once the prerequisites are
# known to be there, so a failed check never leaves us without the old image).
replace_old() {
	if [ "$FORCE" = 1 ] && docker image inspect "$1" >/dev/null 2>&1; then
		log "$1 exists; FORCE=1: rebuilding it"
		docker image rm -f "$1" >/dev/null
	fi
}

# find_busybox: prints the path of a statically linked busybox binary.
find_busybox() {
	local p
	for p in /bin/busybox /usr/bin/busybox; do
		if [ -x "$p" ] && LC_ALL=C file -L "$p" 2>/dev/null | grep -q 'statically linked'; then
			echo "$p"
			return 0
		fi
	done
	# `file` may be missing: trust the busybox-static package's file list instead.
	if dpkg -s busybox-static >/dev/null 2>&1; then
		p=$(dpkg -L busybox-static | grep -E '/bin/busybox$' | head -n1)
		[ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
	fi
	return 1
}

build_busybox() {
	needs_build "$BUSYBOX_IMAGE" || return 0
	local start bb ctx
	start=$(date +%s)
	bb=$(find_busybox) ||
		die "no static busybox found. Install it: apt-get install -y debootstrap busybox-static"
	replace_old "$BUSYBOX_IMAGE"
	ctx=$(mktemp -d)
	tmpdirs+=("$ctx")

	mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/rootfs/root" "$ctx/rootfs/home/builder"
	cp "$bb" "$ctx/rootfs/bin/busybox"
	chmod 0755 "$ctx/rootfs/bin/busybox"
	chmod 1777 "$ctx/rootfs/tmp" # COPY keeps mode bits
	chmod 0700 "$ctx/rootfs/root"
	cat >"$ctx/rootfs/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		builder:x:1000:1000:builder:/home/builder:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$ctx/rootfs/etc/group" <<-'EOF'
		root:x:0:
		builder:x:1000:
		nogroup:x:65534:
	EOF
	cat >"$ctx/Dockerfile" <<-'EOF'
		FROM scratch
		COPY rootfs/ /
		RUN ["/bin/busybox", "--install", "-s", "/bin"]
		RUN ["/bin/busybox", "chown", "1000:1000", "/home/builder"]
		ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		LABEL org.opencontainers.image.title="conveyor/busybox" \
		      org.opencontainers.image.description="Debian busybox-static on scratch, for Conveyor tests"
		CMD ["/bin/sh"]
	EOF

	log "building $BUSYBOX_IMAGE from $bb"
	# No buildx on this host: the classic builder is all a FROM scratch image needs.
	local out
	if ! out=$(DOCKER_BUILDKIT=0 docker build -t "$BUSYBOX_IMAGE" "$ctx" 2>&1); then
		echo "$out" >&2
		die "docker build of $BUSYBOX_IMAGE failed (output above)"
	fi
	docker run --rm "$BUSYBOX_IMAGE" sh -c 'id builder >/dev/null && ls / >/dev/null' ||
		die "$BUSYBOX_IMAGE was built but does not run"
	log "$BUSYBOX_IMAGE built in $(($(date +%s) - start))s"
}

build_debian() {
	needs_build "$DEBIAN_IMAGE" || return 0
	local start goroot work rootfs goversion
	start=$(date +%s)
	command -v debootstrap >/dev/null 2>&1 ||
		die "debootstrap is not installed. Install it: apt-get install -y debootstrap busybox-static"
	[ "$(id -u)" = 0 ] || die "building $DEBIAN_IMAGE needs root (debootstrap and chroot)"
	goroot=${GOROOT_SRC:-}
	if [ -z "$goroot" ]; then
		local gobin
		gobin=$(command -v go || true)
		[ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
		[ -n "$gobin" ] || die "no Go toolchain found (put go on PATH or set GOROOT_SRC)"
		goroot=$("$gobin" env GOROOT)
	fi
	[ -x "$goroot/bin/go" ] || die "$goroot/bin/go does not exist (GOROOT_SRC?)"
	goversion=$("$goroot/bin/go" env GOVERSION)
	replace_old "$DEBIAN_IMAGE"

	work=$(mktemp -d /var/tmp/conveyor-debian.XXXXXX)
	tmpdirs+=("$work")
	rootfs=$work/rootfs

	log "debootstrap bookworm (minbase) from $MIRROR into $rootfs"
	debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	}

	log "installing git curl ca-certificates bash procps zip unzip"
	# Keep services from starting inside the chroot; resolv.conf for apt.
	printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
	chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
	echo "deb $MIRROR bookworm main" >"$rootfs/etc/apt/sources.list"
	mount -t proc proc "$rootfs/proc"
	chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -euc '
			apt-get update -qq
			apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends \
				git curl ca-certificates bash procps zip unzip >/dev/null
			apt-get clean
			rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
			useradd --create-home --uid 1000 --user-group --shell /bin/bash builder
			mkdir -p /go /codebuild
			chmod 1777 /go /codebuild
		'
	umount "$rootfs/proc"
	rm -f "$rootfs/usr/sbin/policy-rc.d"
	: >"$rootfs/etc/resolv.conf" # Docker bind-mounts its own at run time
	rm -rf "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*

	log "copying Go $goversion from $goroot to /usr/local/go"
	mkdir -p "$rootfs/usr/local"
	cp -a "$goroot" "$rootfs/usr/local/go"
	# Only the toolchain: drop any module/build cache that lives under GOROOT on some hosts.
	rm -rf "$rootfs/usr/local/go/pkg/mod"

	# Warm the build cache with the standard library (built, vetted and compiled for tests), so a
	# Go build in this image takes seconds instead of half a minute of compiling net/http.
	log "warming the Go build cache with the standard library"
	mount -t proc proc "$rootfs/proc"
	chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/go/bin:/usr/bin:/bin HOME=/root GOPATH=/go \
		GOCACHE=/go/cache/go-build GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 \
		sh -euc 'go build std && go vet std >/dev/null 2>&1 || true; go test -count=1 -run XXX_none fmt net/http >/dev/null'
	chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/go/bin:/usr/bin:/bin HOME=/root GOPATH=/go \
		GOCACHE=/go/cache/go-build GOFLAGS=-mod=mod GOTOOLCHAIN=local \
		sh -euc 'go build std >/dev/null'
	umount "$rootfs/proc"
	chmod -R a+rwX "$rootfs/go"

	log "importing $DEBIAN_IMAGE"
	tar --numeric-owner -C "$rootfs" -c . | docker import \
		--change 'ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV GOPATH=/go' \
		--change 'ENV GOCACHE=/go/cache/go-build' \
		--change 'ENV GOFLAGS=-mod=mod' \
		--change 'ENV GOTOOLCHAIN=local' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'WORKDIR /' \
		--change 'CMD ["/bin/bash"]' \
		--change "LABEL org.opencontainers.image.title=conveyor/build-debian org.conveyor.go-version=$goversion" \
		--message "debootstrap bookworm minbase + $goversion" \
		- "$DEBIAN_IMAGE" >/dev/null

	docker run --rm --user builder "$DEBIAN_IMAGE" sh -c 'go version && git --version && curl --version | head -n1' ||
		die "$DEBIAN_IMAGE was built but its smoke test failed"
	log "$DEBIAN_IMAGE built in $(($(date +%s) - start))s"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(busybox debian)
for t in "${targets[@]}"; do
	case $t in
	busybox) build_busybox ;;
	debian) build_debian ;;
	*) die "unknown image '$t' (want: busybox, debian)" ;;
	esac
done
