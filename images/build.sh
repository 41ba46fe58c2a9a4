#!/usr/bin/env bash
# Builds Conveyor's local build images without any container registry:
#
#   conveyor/busybox:latest        FROM scratch + Debian's static busybox (tests, tiny builds)
#   conveyor/build-debian:bookworm debootstrap'd Debian bookworm + git, curl, bash, zip + the host's Go
#   conveyor/agent-host:bookworm   build-debian's Debian without Go: a deploy host for `conveyor agent`
#                                  (the conveyor binary is copied in when a container is created)
#
# Usage: images/build.sh [busybox|debian|agent]...   (no argument: all three)
#   FORCE=1          rebuild even when the image already exists
#   MIRROR=URL       Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   GOROOT_SRC=DIR   Go toolchain copied into build-debian (default: $(go env GOROOT))
#
# An image that already exists (docker image inspect) is skipped, so the script is idempotent.
# The Debian image needs root (debootstrap, chroot). See images/README.md.
set -euo pipefail

BUSYBOX_IMAGE=conveyor/busybox:latest
DEBIAN_IMAGE=conveyor/build-debian:bookworm
AGENT_IMAGE=conveyor/agent-host:bookworm
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

# build_agent: a deploy host for the agent's end-to-end tests and docker-compose.yml. It is
# build-debian's root file system without Go and the build cache (sh, bash, curl, procps, a
# `builder` user), plus an entry point that restarts `conveyor agent` when it exits, as systemd's
# Restart=always does on a real host. The conveyor binary is NOT in the image: it changes with
# every commit, so whoever creates a container copies it to /usr/local/bin/conveyor first
# (docker create, docker cp, docker start). Run containers with --init so hook processes are reaped.
build_agent() {
	needs_build "$AGENT_IMAGE" || return 0
	local start ctx
	start=$(date +%s)
	docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1 || build_debian
	replace_old "$AGENT_IMAGE"
	ctx=$(mktemp -d /var/tmp/conveyor-agent-host.XXXXXX)
	tmpdirs+=("$ctx")

	log "exporting $DEBIAN_IMAGE's root file system without Go"
	docker run --rm --network none "$DEBIAN_IMAGE" tar -C / --numeric-owner -cf - \
		--exclude=./proc --exclude=./sys --exclude=./dev --exclude=./.dockerenv \
		--exclude=./etc/hostname --exclude=./etc/hosts --exclude=./etc/resolv.conf \
		--exclude=./usr/local/go --exclude=./go --exclude=./codebuild . >"$ctx/rootfs.tar" ||
		die "exporting $DEBIAN_IMAGE failed"

	mkdir -p "$ctx/extra/usr/local/bin" "$ctx/extra/var/lib/conveyor-agent"
	cat >"$ctx/extra/usr/local/bin/conveyor-agent-host" <<-'EOF'
		#!/bin/sh
		# Runs `conveyor agent "$@"` and restarts it when it exits (systemd's Restart=always), so a
		# test can kill the agent process and watch it come back. Exit status 3 (credential
		# refused) is final, as RestartPreventExitStatus=3 makes it in the systemd unit.
		trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
		while :; do
			if [ ! -x /usr/local/bin/conveyor ]; then
				echo "conveyor-agent-host: /usr/local/bin/conveyor is missing: docker cp the binary in before starting" >&2
				exit 1
			fi
			/usr/local/bin/conveyor agent "$@" &
			pid=$!
			wait "$pid"
			rc=$?
			if [ "$rc" -eq 3 ]; then
				echo "conveyor-agent-host: the server refused the agent (exit 3); not restarting" >&2
				exit 3
			fi
			echo "conveyor-agent-host: conveyor agent exited with status $rc; restarting in 1s" >&2
			sleep 1
		done
	EOF
	chmod 0755 "$ctx/extra/usr/local/bin/conveyor-agent-host"
	tar -C "$ctx/extra" --numeric-owner --owner=0 --group=0 -rf "$ctx/rootfs.tar" ./usr/local/bin/conveyor-agent-host ./var/lib/conveyor-agent

	log "importing $AGENT_IMAGE"
	docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'WORKDIR /' \
		--change 'ENTRYPOINT ["/usr/local/bin/conveyor-agent-host"]' \
		--change "LABEL org.opencontainers.image.title=conveyor/agent-host org.opencontainers.image.description=\"Debian bookworm deploy host for conveyor agent (copy the binary to /usr/local/bin/conveyor)\"" \
		--message "build-debian without Go + conveyor-agent-host" \
		"$ctx/rootfs.tar" "$AGENT_IMAGE" >/dev/null

	docker run --rm --entrypoint sh "$AGENT_IMAGE" -c 'curl --version | head -n1 && ps --version && id builder && ! command -v go' ||
		die "$AGENT_IMAGE was built but its smoke test failed"
	log "$AGENT_IMAGE built in $(($(date +%s) - start))s"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(busybox debian agent)
for t in "${targets[@]}"; do
	case $t in
	busybox) build_busybox ;;
	debian) build_debian ;;
	agent) build_agent ;;
	*) die "unknown image '$t' (want: busybox, debian, agent)" ;;
	esac
done
