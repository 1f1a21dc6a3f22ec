#!/usr/bin/env bash
# Prepares a Debian/Ubuntu machine to run Airlock against a real Docker engine, idempotently:
# Docker engine (docker.io), gVisor (runsc) registered as a runtime, and the offline test image
# (and python3, which the tests use for a pseudo-terminal).
# Run as root (or with sudo). Safe to run again: every step checks before it acts.
set -euo pipefail

IMAGE="${AIRLOCK_TEST_IMAGE:-airlock-test:bookworm}"
SUITE="${AIRLOCK_IMAGE_SUITE:-bookworm}"
MIRROR="${AIRLOCK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { printf '[setup] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
[ -x /usr/bin/docker ] || need_pkgs+=(docker.io)
command -v runsc >/dev/null 2>&1 || need_pkgs+=(runsc)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
# The tests drive `airlock shell` on a real pseudo-terminal through Python's pty module.
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
# The remote-engine tests reach an engine over ssh:// (a loopback sshd of their own, a key in
# ssh-agent) and over tcp:// with TLS (certificates they make with openssl).
NEW_SSHD=0
[ -x /usr/sbin/sshd ] || { need_pkgs+=(openssh-server); NEW_SSHD=1; }
command -v ssh-agent >/dev/null 2>&1 || need_pkgs+=(openssh-client)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Only the tests' own sshd is wanted: a system-wide one that installing the package started (and
# enabled) would open port 22 on a machine that had no ssh server before.
if [ "$NEW_SSHD" = 1 ]; then
  log "openssh-server is for the tests' own sshd on 127.0.0.1; stopping and disabling its system service"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  else
    $SUDO service ssh stop >/dev/null 2>&1 || true
    $SUDO update-rc.d ssh disable >/dev/null 2>&1 || true
  fi
fi
# Debian's docker CLI lives in /usr/bin; another 'docker' earlier on PATH may be a different build.
DOCKER=/usr/bin/docker

# Register runsc (gVisor) with the ptrace platform (works without KVM) and no gVisor networking.
RUNSC="$(command -v runsc)"
$SUDO mkdir -p /etc/docker
if ! grep -q '"runsc"' /etc/docker/daemon.json 2>/dev/null; then
  log "registering runsc in /etc/docker/daemon.json"
  RUNSC="$RUNSC" node -e '
    const fs = require("fs"); const p = "/etc/docker/daemon.json";
    let cfg = {}; try { cfg = JSON.parse(fs.readFileSync(p, "utf8")); } catch {}
    cfg.runtimes = Object.assign({}, cfg.runtimes, { runsc: { path: process.env.RUNSC, runtimeArgs: ["--platform=ptrace", "--network=none"] } });
    fs.writeFileSync(p, JSON.stringify(cfg, null, 2) + "\n");' 
  RESTART_DOCKERD=1
fi

engine_up() { $DOCKER version >/dev/null 2>&1; }
if [ "${RESTART_DOCKERD:-0}" = 1 ] && engine_up; then
  log "restarting dockerd to pick up the runtime"
  $SUDO pkill -x dockerd || true
  for _ in $(seq 1 50); do engine_up || break; sleep 0.2; done
fi
if ! engine_up; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl restart docker
  else
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    $SUDO sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 150); do engine_up && break; sleep 0.2; done
  engine_up || { log "dockerd did not answer within 30 s; see /var/log/dockerd.log"; exit 1; }
fi
log "engine: $($DOCKER version --format '{{.Server.Version}}')"

# The recipe's version rides on the image as a label, so an image built by an older recipe is
# rebuilt rather than kept because its name exists. Version 2: a stock image, as a user's would be
# (no /workspace, no /home/airlock, no user 1000), so the tests see what Airlock meets in the wild.
RECIPE_LABEL=airlock.test-image.recipe
RECIPE=2
built_recipe="$($DOCKER image inspect "$IMAGE" --format "{{index .Config.Labels \"$RECIPE_LABEL\"}}" 2>/dev/null || true)"
if [ "$built_recipe" != "$RECIPE" ]; then
  old_id="$($DOCKER image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null || true)"
  [ -z "$old_id" ] || log "$IMAGE was built by recipe '${built_recipe:-1}'; rebuilding with recipe $RECIPE"
  root="$(mktemp -d /var/tmp/airlock-rootfs.XXXXXX)"
  log "building $IMAGE with debootstrap into $root (about a minute)"
  $SUDO debootstrap --variant=minbase --include=bash,git,ca-certificates,curl,nodejs "$SUITE" "$root" "$MIRROR" >/var/tmp/airlock-debootstrap.log 2>&1 \
    || { log "debootstrap failed; see /var/tmp/airlock-debootstrap.log"; $SUDO rm -rf "$root"; exit 1; }
  $SUDO rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
  $SUDO tar -C "$root" -c . | $DOCKER import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "LABEL $RECIPE_LABEL=$RECIPE" - "$IMAGE" >/dev/null
  $SUDO rm -rf "$root"
  # The old image loses its name; remove it unless a container (a running test) still uses it.
  if [ -n "$old_id" ] && [ "$old_id" != "$($DOCKER image inspect "$IMAGE" --format '{{.Id}}')" ]; then
    $DOCKER image rm "$old_id" >/dev/null 2>&1 || log "the old image $old_id is still in use; remove it later with: docker image rm $old_id"
  fi
fi
log "image: $IMAGE ($($DOCKER image inspect "$IMAGE" --format '{{.Size}}') bytes)"
log "runtimes: $($DOCKER info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
