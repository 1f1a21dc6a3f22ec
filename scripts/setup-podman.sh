#!/usr/bin/env bash
# Prepares a Debian/Ubuntu machine for test/integration/podman.test.ts, idempotently: Podman and
# what rootless Podman needs (catatonit for --init, uidmap's newuidmap/newgidmap, slirp4netns,
# fuse-overlayfs), and a user for rootless Podman (AIRLOCK_TEST_PODMAN_USER, default
# airlock-podman) with subordinate uids and gids and fuse-overlayfs storage. The test image is
# copied from Docker into Podman by the tests themselves (test/helpers/podmanEngine.ts), so run
# scripts/setup-engine.sh first. Run as root (or with sudo). Safe to run again.
set -euo pipefail

PODMAN_USER="${AIRLOCK_TEST_PODMAN_USER:-airlock-podman}"
log() { printf '[setup-podman] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_pkgs=()
command -v podman >/dev/null 2>&1 || need_pkgs+=(podman)
[ -x /usr/bin/catatonit ] || [ -x /usr/libexec/podman/catatonit ] || need_pkgs+=(catatonit)
command -v newuidmap >/dev/null 2>&1 || need_pkgs+=(uidmap)
command -v slirp4netns >/dev/null 2>&1 || need_pkgs+=(slirp4netns)
command -v fuse-overlayfs >/dev/null 2>&1 || need_pkgs+=(fuse-overlayfs)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}"
else
  log "podman and its helpers are installed"
fi
log "$(podman --version)"

# The rootless user: a login-less account with 65536 subordinate ids of its own.
if ! id -u "$PODMAN_USER" >/dev/null 2>&1; then
  log "creating user $PODMAN_USER"
  $SUDO useradd --create-home --shell /usr/sbin/nologin "$PODMAN_USER"
fi
uid="$(id -u "$PODMAN_USER")"
home="$(getent passwd "$PODMAN_USER" | cut -d: -f6)"
if ! grep -q "^$PODMAN_USER:" /etc/subuid 2>/dev/null; then
  # Past every range already handed out, so no two users share ids.
  start="$(awk -F: '{ end = $2 + $3; if (end > max) max = end } END { print (max > 100000 ? max : 100000) }' /etc/subuid /etc/subgid 2>/dev/null || echo 100000)"
  log "subordinate ids $start-$((start + 65535)) for $PODMAN_USER"
  $SUDO usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$PODMAN_USER"
elif ! grep -q "^$PODMAN_USER:" /etc/subgid 2>/dev/null; then
  echo "[setup-podman] $PODMAN_USER has subuids but no subgids; add them to /etc/subgid" >&2
  exit 1
fi

# Its runtime folder, as a login would make it (the tests set XDG_RUNTIME_DIR to it).
$SUDO install -d -m 700 -o "$PODMAN_USER" -g "$PODMAN_USER" "/run/user/$uid"

# fuse-overlayfs storage: without it rootless Podman falls back to vfs, whose layer folders here
# come out mode 0700, so a non-root user in the container cannot even find /bin/sh.
conf_dir="$home/.config/containers"
if [ ! -f "$conf_dir/storage.conf" ]; then
  log "fuse-overlayfs storage for $PODMAN_USER"
  $SUDO install -d -m 755 -o "$PODMAN_USER" -g "$PODMAN_USER" "$home/.config" "$conf_dir"
  printf '[storage]\ndriver = "overlay"\n\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n' | $SUDO tee "$conf_dir/storage.conf" >/dev/null
  $SUDO chown "$PODMAN_USER:$PODMAN_USER" "$conf_dir/storage.conf"
  # Storage made with another driver must go before the new one is used.
  if [ -d "$home/.local/share/containers/storage/vfs" ]; then
    log "removing $PODMAN_USER's earlier vfs storage"
    (cd / && $SUDO runuser -u "$PODMAN_USER" -- env XDG_RUNTIME_DIR="/run/user/$uid" HOME="$home" podman system reset --force >/dev/null 2>&1) || true
  fi
fi

# A quick look that rootless Podman runs at all (user namespaces, newuidmap).
if (cd / && $SUDO runuser -u "$PODMAN_USER" -- env XDG_RUNTIME_DIR="/run/user/$uid" HOME="$home" podman info --format '{{.Host.Security.Rootless}} {{.Store.GraphDriverName}} cgroup {{.Host.CgroupsVersion}}') >/tmp/airlock-podman-info.txt 2>/dev/null; then
  log "rootless Podman as $PODMAN_USER: $(cat /tmp/airlock-podman-info.txt)"
else
  log "rootless Podman does not run as $PODMAN_USER here: see \`runuser -u $PODMAN_USER -- podman info\`"
fi
rm -f /tmp/airlock-podman-info.txt
if [ -c /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
  log "note: /dev/fuse is mode $(stat -c %a /dev/fuse), so fuse-overlayfs cannot mount as $PODMAN_USER (rootless containers fail to start; Debian's default is 666)"
fi
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  log "note: this host uses cgroup v1, where rootless Podman ignores memory, CPU and pids limits; Airlock refuses such tasks"
fi
